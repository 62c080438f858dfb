package twin

import "math"

// Speed bands, in km/h: the twin keeps which band a vehicle's speed is in,
// not the speed, because that is what the rules and an operator need
// (stopped for a breakdown, slow for fog corroboration) and it says less
// about how someone drives.
const (
	BandStopped  = "stopped"  // below 2 km/h
	BandCrawling = "crawling" // 2 to 20 km/h
	BandSlow     = "slow"     // 20 to 50 km/h
	BandMoving   = "moving"   // 50 to 90 km/h
	BandFast     = "fast"     // 90 km/h and more
)

// bandLimits are the upper bounds of the bands below BandFast.
var bandLimits = [...]struct {
	below float64
	band  string
}{{2, BandStopped}, {20, BandCrawling}, {50, BandSlow}, {90, BandMoving}}

// SpeedBand returns the band of a speed in km/h, or "" for a speed that is
// not a finite number (a decoding fault, not a band). Negative speeds
// (reversing, as some vehicles report it) count by their magnitude.
func SpeedBand(kmh float64) string {
	if math.IsNaN(kmh) || math.IsInf(kmh, 0) {
		return ""
	}
	kmh = math.Abs(kmh)
	for _, l := range bandLimits {
		if kmh < l.below {
			return l.band
		}
	}
	return BandFast
}

// LowSpeed reports whether a band is below 50 km/h: the "low speed" of the
// fog rule's corroboration (drivers slow down in fog).
func LowSpeed(band string) bool {
	return band == BandStopped || band == BandCrawling || band == BandSlow
}
