package sim

import "math"

// signals returns the physical values of one message's signals.
func signals(m *message, v *vehicle) map[string]float64 {
	sc := v.sc
	kmh := v.speed * 3.6
	fog := v.inFog()
	lamps := func(name string) float64 {
		for _, l := range sc.Lamps {
			if l.Signal == name && v.t >= l.At {
				return 1
			}
		}
		return 0
	}
	gear, rpm := v.gear()
	acc, brake := v.pedals()
	switch m.m.Name {
	case "VDC_Speed":
		return map[string]float64{
			"VehicleSpeed": round(kmh, 0.01), "VehicleIsMoving": b2f(v.speed > 0.2),
			"LongAccel": round(v.accel+v.noise(0.05), 0.001), "LatAccel": round(v.speed*v.yawRate*math.Pi/180+v.noise(0.05), 0.001),
			"SpeedCounter": float64(m.count % 16),
		}
	case "VDC_WheelSpeeds":
		return map[string]float64{
			"WheelSpeedFL": wheel(kmh*1.003 + v.noise(0.05)), "WheelSpeedFR": wheel(kmh*0.998 + v.noise(0.05)),
			"WheelSpeedRL": wheel(kmh*1.001 + v.noise(0.05)), "WheelSpeedRR": wheel(kmh*0.999 + v.noise(0.05)),
		}
	case "ECM_Engine":
		return map[string]float64{
			"EngineSpeed": round(rpm, 0.25), "EngineTorque": round(30+acc*2.2-brake*0.5, 0.5),
			"ThrottlePosition": round(math.Max(acc, 0), 0.4), "EngineRunning": 1,
			"CoolantTemp": math.Round(v.coolant), "OilTemp": math.Round(v.oil),
		}
	case "VCU_Drive":
		sel := 3.0 // D
		if v.phase == parked {
			sel = 0 // P
		}
		return map[string]float64{
			"AccelPedal": round(math.Max(acc, 0), 0.4), "BrakePedal": round(math.Max(brake, 0), 0.4),
			"GearCurrent": float64(gear), "GearSelected": sel, "ParkingBrake": b2f(v.phase == parked),
			"BrakeLight": b2f(brake > 0), "CruiseActive": 0, "CruiseSetSpeed": 0,
		}
	case "EPS_Steering":
		return map[string]float64{"SteeringAngle": round(-v.yawRate*12+v.noise(0.5), 0.1), "YawRate": round(v.yawRate, 0.01)}
	case "BCM_Lights":
		hazard := v.t >= sc.HazardFrom && v.t < sc.HazardTo
		blink := math.Mod(v.t, 0.8) < 0.4 // indicators and hazards flash at 1.25 Hz
		return map[string]float64{
			"FogLightFront": b2f(fog), "FogLightRear": b2f(fog), "HazardActive": b2f(hazard),
			"TurnLeft": b2f((v.indL || hazard) && blink), "TurnRight": b2f((v.indR || hazard) && blink),
			"LowBeam": b2f(fog || sc.LightPct < 40), "HighBeam": 0, "DaytimeRunning": b2f(!fog && sc.LightPct >= 40),
			"ParkingLights": b2f(fog || sc.LightPct < 40), "ReverseLight": 0, "LightSwitchPos": 3,
			"FogFrontDefect": 0, "FogRearDefect": 0,
		}
	case "BCM_Wipers":
		mode, interval, rain := 0.0, 0.0, 0.0
		if fog {
			mode, interval, rain = 1, 2, 8 // Interval: drizzle in the fog
		}
		return map[string]float64{"WiperFrontMode": mode, "WiperFrontInterval": interval, "WiperRearMode": 0,
			"RainIntensity": rain, "WasherFluidLow": 0, "WasherFluidLevel": 64}
	case "IC_Warnings":
		return map[string]float64{
			"WarnMIL": lamps("WarnMIL"), "WarnABS": lamps("WarnABS"), "WarnAirbag": lamps("WarnAirbag"),
			"WarnBrake": lamps("WarnBrake"), "WarnOilPressure": lamps("WarnOilPressure"),
			"WarnCoolantTemp": lamps("WarnCoolantTemp"), "WarnBatteryCharge": lamps("WarnBatteryCharge"),
			"WarnESC": lamps("WarnESC"), "WarnTPMS": lamps("WarnTPMS"), "WarnSeatBelt": 0,
			"WarnLowFuel": b2f(v.fuel < 10), "WarnService": lamps("WarnService"), "WarningCounter": float64(m.count % 16),
		}
	case "IC_Odometer":
		return map[string]float64{"Odometer": round(sc.OdometerKm+v.trip, 0.1), "TripDistance": round(v.trip, 0.01),
			"TripTime": math.Floor(v.t)}
	case "ECM_Fluids":
		amb := sc.AmbientC
		if fog {
			amb -= 2
		}
		return map[string]float64{"FuelLevel": round(v.fuel, 0.4), "FuelRange": math.Round(v.fuel * 9.2),
			"AmbientTemp": round(amb+v.noise(0.1), 0.1), "OilPressure": round(180+rpm*0.09, 4),
			"FuelConsumption": round(math.Max(0, 5.5+acc*0.3-v.speed*0.05), 0.01)}
	case "BMS_LowVoltage":
		return map[string]float64{"BatteryVoltage": float64(float32(round(14.1+v.noise(0.08), 0.001))),
			"BatteryCurrent": round(11.5+v.noise(1), 0.01), "SystemState": 4}
	case "DIAG_Status":
		switch page := m.count % 3; page {
		case 0:
			return map[string]float64{"StatusPage": 0, "TirePressureFL": 230, "TirePressureFR": 232,
				"TirePressureRL": 228, "TirePressureRR": 230}
		case 1:
			return map[string]float64{"StatusPage": 1, "DoorDriverOpen": 0, "DoorPassengerOpen": 0,
				"DoorRearLeftOpen": 0, "DoorRearRightOpen": 0, "HoodOpen": 0, "TrunkOpen": 0,
				"BeltDriver": 1, "BeltPassenger": 0}
		default:
			return map[string]float64{"StatusPage": 2, "EngineHours": round(sc.EngineHours+v.t/3600, 0.05), "OilLevel": 2}
		}
	case "GNSS_Position":
		return map[string]float64{"Latitude": round(v.lat+v.noise(3e-6), 1e-7), "Longitude": round(v.lon+v.noise(4e-6), 1e-7)}
	case "GNSS_Motion":
		return map[string]float64{"Heading": heading(v.heading + v.noise(0.5)),
			"Altitude": round(v.alt, 0.1), "HorizontalAccuracy": round(1.6+v.noise(0.4), 0.1),
			"FixType": 2, "Satellites": 11, "GNSSSpeed": wheel(kmh + v.noise(0.2))}
	case "VCU_TripFD":
		avg := 0.0
		if v.t > 0 {
			avg = v.trip / (v.t / 3600)
		}
		hum, light := sc.HumidityPct, sc.LightPct
		if fog {
			hum, light = 98, light*0.4
		}
		return map[string]float64{"AverageSpeed": round(avg, 0.01), "AverageConsumption": 6.4,
			"TotalRange": math.Round(v.fuel * 9.2), "ExteriorHumidity": round(hum, 0.5), "LightIntensity": round(light, 0.5),
			"AccelVertical": round(v.noise(0.15), 0.001), "RollRate": round(v.noise(0.4), 0.01),
			"PitchRate": round(v.noise(0.3), 0.01), "ABSEngaged": 0, "ESCEngaged": 0, "TCSEngaged": 0,
			"ABSError": lamps("WarnABS"), "ESCError": lamps("WarnESC"), "LaneDepartureWarning": 0,
			"TripCounter": float64(m.count), "FrameChecksum": 0}
	}
	return nil
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
