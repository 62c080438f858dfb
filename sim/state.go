package sim

// Phase is what the driver is doing; the frames' gear, pedals and parking
// brake follow it.
type Phase uint8

// The phases of a drive.
const (
	Parked       Phase = iota // engine on, gear P, parking brake on
	Accelerating              // pedal down
	Cruising                  // holding a speed
	Braking                   // brake pedal
	Stopped                   // standing in gear D on the brake (a light, a stop sign)
)

// State is what the demo vehicle's frames are made from: the quantities a
// model keeps, read by a Transmitter whenever a message is due. Units: m/s,
// degrees, km, seconds, °C, percent.
type State struct {
	// T is seconds since the drive (or the trip) started: the trip time of
	// IC_Odometer and the blink rhythm of the indicators.
	T     float64
	Phase Phase
	// Off is the ignition switched off: the buses are silent.
	Off bool

	Speed   float64 // m/s, never negative
	Accel   float64 // m/s², the last step's
	YawRate float64 // deg/s
	Lat     float64 // degrees
	Lon     float64 // degrees
	Heading float64 // degrees, 0 = north
	Alt     float64 // m

	IndicatorLeft, IndicatorRight bool

	Trip    float64 // km driven since T = 0
	Fuel    float64 // percent
	Coolant float64 // °C
	Oil     float64 // °C

	// FogLights are the front and rear fog lights (the driver's switch);
	// they bring the low beam with them.
	FogLights bool
	// Foggy is the air the vehicle drives in: drizzle on the windscreen
	// (wipers on interval), humidity 98 %, dim light, 2 °C colder. A
	// driver may be in fog without switching the fog lights on.
	Foggy  bool
	Hazard bool
	Lamps  Lamps // warning lamps on

	LightPct    float64 // ambient light; below 40 % the low beam is on
	AmbientC    float64
	HumidityPct float64
	OdometerKm  float64 // at T = 0
	EngineHours float64 // at T = 0
}

// Lamp is a warning lamp of the demo vehicle's instrument cluster
// (IC_Warnings). Seat belt and low fuel are not Lamps: the frames compute
// them (belt always fastened, low fuel below 10 %).
type Lamp uint8

// The warning lamps, in IC_Warnings bit order.
const (
	LampMIL Lamp = iota
	LampABS
	LampAirbag
	LampBrake
	LampOilPressure
	LampCoolantTemp
	LampBatteryCharge
	LampESC
	LampTPMS
	LampService
	numLamps
)

// lampNames are each lamp's DBC signal and catalog short name
// (Vehicle.Kanal.Warning.<Name>.IsOn in kanal_demo.mapping.yaml).
var lampNames = [numLamps]struct{ signal, name string }{
	{"WarnMIL", "MalfunctionIndicator"}, {"WarnABS", "ABS"}, {"WarnAirbag", "Airbag"},
	{"WarnBrake", "BrakeSystem"}, {"WarnOilPressure", "OilPressure"}, {"WarnCoolantTemp", "CoolantTemperature"},
	{"WarnBatteryCharge", "BatteryCharge"}, {"WarnESC", "ESC"}, {"WarnTPMS", "TirePressure"},
	{"WarnService", "Service"},
}

// AlertLamps are the lamps the cloud's warning rule watches by default
// (cloud/alert DefaultLamps): all but the service reminder.
var AlertLamps = []Lamp{LampMIL, LampABS, LampAirbag, LampBrake, LampOilPressure,
	LampCoolantTemp, LampBatteryCharge, LampESC, LampTPMS}

// Signal returns the lamp's DBC signal in IC_Warnings, e.g. WarnABS.
func (l Lamp) Signal() string {
	if l < numLamps {
		return lampNames[l].signal
	}
	return ""
}

// Name returns the lamp's short catalog name, e.g. ABS for
// Vehicle.Kanal.Warning.ABS.IsOn.
func (l Lamp) Name() string {
	if l < numLamps {
		return lampNames[l].name
	}
	return ""
}

// String returns the lamp's short name.
func (l Lamp) String() string { return l.Name() }

// LampBySignal returns the lamp of a DBC signal name (WarnABS).
func LampBySignal(signal string) (Lamp, bool) {
	for l := range numLamps {
		if lampNames[l].signal == signal {
			return l, true
		}
	}
	return 0, false
}

// LampByName returns the lamp of a short catalog name (ABS).
func LampByName(name string) (Lamp, bool) {
	for l := range numLamps {
		if lampNames[l].name == name {
			return l, true
		}
	}
	return 0, false
}

// Lamps is a set of warning lamps.
type Lamps uint16

// Has reports whether l is in the set.
func (s Lamps) Has(l Lamp) bool { return s&(1<<l) != 0 }

// With returns the set with l added.
func (s Lamps) With(l Lamp) Lamps { return s | 1<<l }
