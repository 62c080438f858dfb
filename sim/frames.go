package sim

import "math"

// signals sets the physical values of one message's signals from the
// state. The sensor noise is drawn in a fixed order (the order of the puts),
// so a seed gives the same frames.
func (tx *Transmitter) signals(m *schedule) {
	st, vs := tx.st, &m.vals
	noise := func(amp float64) float64 { return Uniform(tx.opts.Noise, -amp, amp) }
	put := vs.put
	kmh := st.Speed * 3.6
	lamp := func(l Lamp) float64 { return b2f(st.Lamps.Has(l)) }
	gear, rpm := engine(st, noise)
	acc, brake := pedals(st, noise)
	switch vs.em.m.Name {
	case "VDC_Speed":
		put("VehicleSpeed", round(kmh, 0.01))
		put("VehicleIsMoving", b2f(st.Speed > 0.2))
		put("LongAccel", round(st.Accel+noise(0.05), 0.001))
		put("LatAccel", round(st.Speed*st.YawRate*math.Pi/180+noise(0.05), 0.001))
		put("SpeedCounter", float64(m.count%16))
	case "VDC_WheelSpeeds":
		put("WheelSpeedFL", wheel(kmh*1.003+noise(0.05)))
		put("WheelSpeedFR", wheel(kmh*0.998+noise(0.05)))
		put("WheelSpeedRL", wheel(kmh*1.001+noise(0.05)))
		put("WheelSpeedRR", wheel(kmh*0.999+noise(0.05)))
	case "ECM_Engine":
		put("EngineSpeed", round(rpm, 0.25))
		put("EngineTorque", round(30+acc*2.2-brake*0.5, 0.5))
		put("ThrottlePosition", round(math.Max(acc, 0), 0.4))
		put("EngineRunning", 1)
		put("CoolantTemp", math.Round(st.Coolant))
		put("OilTemp", math.Round(st.Oil))
	case "VCU_Drive":
		sel := 3.0 // D
		if st.Phase == Parked {
			sel = 0 // P
		}
		put("AccelPedal", round(math.Max(acc, 0), 0.4))
		put("BrakePedal", round(math.Max(brake, 0), 0.4))
		put("GearCurrent", float64(gear))
		put("GearSelected", sel)
		put("ParkingBrake", b2f(st.Phase == Parked))
		put("BrakeLight", b2f(brake > 0))
		put("CruiseActive", 0)
		put("CruiseSetSpeed", 0)
	case "EPS_Steering":
		put("SteeringAngle", round(-st.YawRate*12+noise(0.5), 0.1))
		put("YawRate", round(st.YawRate, 0.01))
	case "BCM_Lights":
		blink := math.Mod(st.T, 0.8) < 0.4 // indicators and hazards flash at 1.25 Hz
		low := st.FogLights || st.Foggy || st.LightPct < 40
		put("FogLightFront", b2f(st.FogLights))
		put("FogLightRear", b2f(st.FogLights))
		put("HazardActive", b2f(st.Hazard))
		put("TurnLeft", b2f((st.IndicatorLeft || st.Hazard) && blink))
		put("TurnRight", b2f((st.IndicatorRight || st.Hazard) && blink))
		put("LowBeam", b2f(low))
		put("HighBeam", 0)
		put("DaytimeRunning", b2f(!low))
		put("ParkingLights", b2f(low))
		put("ReverseLight", 0)
		put("LightSwitchPos", 3)
		put("FogFrontDefect", 0)
		put("FogRearDefect", 0)
	case "BCM_Wipers":
		mode, interval, rain := 0.0, 0.0, 0.0
		if st.Foggy {
			mode, interval, rain = 1, 2, 8 // Interval: drizzle in the fog
		}
		put("WiperFrontMode", mode)
		put("WiperFrontInterval", interval)
		put("WiperRearMode", 0)
		put("RainIntensity", rain)
		put("WasherFluidLow", 0)
		put("WasherFluidLevel", 64)
	case "IC_Warnings":
		put("WarnMIL", lamp(LampMIL))
		put("WarnABS", lamp(LampABS))
		put("WarnAirbag", lamp(LampAirbag))
		put("WarnBrake", lamp(LampBrake))
		put("WarnOilPressure", lamp(LampOilPressure))
		put("WarnCoolantTemp", lamp(LampCoolantTemp))
		put("WarnBatteryCharge", lamp(LampBatteryCharge))
		put("WarnESC", lamp(LampESC))
		put("WarnTPMS", lamp(LampTPMS))
		put("WarnSeatBelt", 0)
		put("WarnLowFuel", b2f(st.Fuel < 10))
		put("WarnService", lamp(LampService))
		put("WarningCounter", float64(m.count%16))
	case "IC_Odometer":
		put("Odometer", round(st.OdometerKm+st.Trip, 0.1))
		put("TripDistance", round(st.Trip, 0.01))
		put("TripTime", math.Floor(st.T))
	case "ECM_Fluids":
		amb := st.AmbientC
		if st.Foggy {
			amb -= 2
		}
		put("FuelLevel", round(st.Fuel, 0.4))
		put("FuelRange", math.Round(st.Fuel*9.2))
		put("AmbientTemp", round(amb+noise(0.1), 0.1))
		put("OilPressure", round(180+rpm*0.09, 4))
		put("FuelConsumption", round(math.Max(0, 5.5+acc*0.3-st.Speed*0.05), 0.01))
	case "BMS_LowVoltage":
		put("BatteryVoltage", float64(float32(round(14.1+noise(0.08), 0.001))))
		put("BatteryCurrent", round(11.5+noise(1), 0.01))
		put("SystemState", 4)
	case "DIAG_Status":
		switch page := m.count % 3; page {
		case 0:
			put("StatusPage", 0)
			put("TirePressureFL", 230)
			put("TirePressureFR", 232)
			put("TirePressureRL", 228)
			put("TirePressureRR", 230)
		case 1:
			put("StatusPage", 1)
			for _, s := range [...]string{"DoorDriverOpen", "DoorPassengerOpen", "DoorRearLeftOpen",
				"DoorRearRightOpen", "HoodOpen", "TrunkOpen"} {
				put(s, 0)
			}
			put("BeltDriver", 1)
			put("BeltPassenger", 0)
		default:
			put("StatusPage", 2)
			put("EngineHours", round(st.EngineHours+st.T/3600, 0.05))
			put("OilLevel", 2)
		}
	case "GNSS_Position":
		put("Latitude", round(st.Lat+noise(3e-6), 1e-7))
		put("Longitude", round(st.Lon+noise(4e-6), 1e-7))
	case "GNSS_Motion":
		put("Heading", heading(st.Heading+noise(0.5)))
		put("Altitude", round(st.Alt, 0.1))
		put("HorizontalAccuracy", round(1.6+noise(0.4), 0.1))
		put("FixType", 2)
		put("Satellites", 11)
		put("GNSSSpeed", wheel(kmh+noise(0.2)))
	case "VCU_TripFD":
		avg := 0.0
		if st.T > 0 {
			avg = st.Trip / (st.T / 3600)
		}
		hum, light := st.HumidityPct, st.LightPct
		if st.Foggy {
			hum, light = 98, light*0.4
		}
		put("AverageSpeed", round(avg, 0.01))
		put("AverageConsumption", 6.4)
		put("TotalRange", math.Round(st.Fuel*9.2))
		put("ExteriorHumidity", round(hum, 0.5))
		put("LightIntensity", round(light, 0.5))
		put("AccelVertical", round(noise(0.15), 0.001))
		put("RollRate", round(noise(0.4), 0.01))
		put("PitchRate", round(noise(0.3), 0.01))
		for _, s := range [...]string{"ABSEngaged", "ESCEngaged", "TCSEngaged"} {
			put(s, 0)
		}
		put("ABSError", lamp(LampABS))
		put("ESCError", lamp(LampESC))
		put("LaneDepartureWarning", 0)
		put("TripCounter", float64(m.count))
		put("FrameChecksum", 0)
	}
}

// engine returns the gear a 6-speed automatic would hold, and engine rpm.
func engine(st *State, noise func(float64) float64) (gear int, rpm float64) {
	kmh := st.Speed * 3.6
	ratios := [...]float64{0, 115, 62, 43, 33, 27, 22}
	limits := [...]float64{0, 18, 32, 48, 62, 80, math.MaxFloat64}
	if st.Phase == Parked {
		return 0, 780 + noise(15)
	}
	gear = 1
	for gear < 6 && kmh > limits[gear] {
		gear++
	}
	rpm = math.Max(780, kmh*ratios[gear]) + noise(15)
	return gear, rpm
}

// pedals returns accelerator and brake pedal positions in percent.
func pedals(st *State, noise func(float64) float64) (acc, brake float64) {
	switch st.Phase {
	case Accelerating:
		return 20 + 8*st.Accel + noise(2), 0
	case Cruising:
		return 12 + st.Speed*0.4 + noise(1.5), 0
	case Braking:
		return 0, 15 + 7*(-st.Accel) + noise(2)
	case Stopped, Parked:
		return 0, 22
	}
	return 0, 0
}

// wheel rounds a speed to 0.01 km/h, never below 0: a wheel sensor
// reports 0 at a standstill, not sensor noise around it.
func wheel(kmh float64) float64 {
	if kmh < 0.05 {
		return 0
	}
	return round(kmh, 0.01)
}

// heading rounds a heading to 0.01° in [0, 360): 359.996 is 0, not 360.
func heading(deg float64) float64 {
	h := round(math.Mod(math.Mod(deg, 360)+360, 360), 0.01)
	if h >= 360 {
		h -= 360
	}
	return h
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// round rounds to a resolution, so encoded values do not depend on the
// last bits of the model's arithmetic.
func round(x, res float64) float64 { return math.Round(x/res) * res }
