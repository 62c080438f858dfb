package sim

import "time"

// DemoDrives returns the scenarios of testdata/candumps: each file name
// (without .log) with its scenario. All start in Munich, around 48.137N
// 11.575E, so the cloud's alerts land in a handful of grid cells.
func DemoDrives() []Scenario {
	return []Scenario{
		{
			Name: "drive_city", Seed: 1, Start: time.Date(2025, 3, 14, 7, 30, 0, 0, time.UTC), Duration: 180,
			StartLat: 48.1374, StartLon: 11.5755, StartHeading: 90, Altitude: 519,
			SpeedKmh: [2]float64{30, 50}, CruiseS: [2]float64{8, 20}, StopS: [2]float64{6, 15}, TurnChance: 0.6,
			HazardFrom: 150, HazardTo: 158,
			FuelPercent: 62, OdometerKm: 48213.4, AmbientC: 11.5, HumidityPct: 58, LightPct: 70, EngineHours: 1234.5,
		},
		{
			Name: "drive_fog", Seed: 2, Start: time.Date(2025, 11, 12, 6, 45, 0, 0, time.UTC), Duration: 150,
			StartLat: 48.1420, StartLon: 11.5600, StartHeading: 45, Altitude: 515,
			SpeedKmh: [2]float64{55, 70}, CruiseS: [2]float64{25, 45}, StopS: [2]float64{5, 10}, TurnChance: 0.3,
			FogFrom: 60, FogTo: 120,
			FuelPercent: 41, OdometerKm: 48390.2, AmbientC: 4.5, HumidityPct: 88, LightPct: 35, EngineHours: 1241.1,
		},
		{
			Name: "drive_warning", Seed: 3, Start: time.Date(2025, 6, 2, 16, 10, 0, 0, time.UTC), Duration: 120,
			StartLat: 48.1300, StartLon: 11.5900, StartHeading: 0, Altitude: 522,
			SpeedKmh: [2]float64{35, 55}, CruiseS: [2]float64{10, 25}, StopS: [2]float64{6, 14}, TurnChance: 0.5,
			Lamps:       []LampEvent{{Signal: "WarnABS", At: 75}},
			FuelPercent: 23, OdometerKm: 48877.9, AmbientC: 24, HumidityPct: 45, LightPct: 85, EngineHours: 1260.8,
		},
	}
}
