package geo

// FieldError is a bad value in one named field: a coordinate, a bounding-box
// bound, a zone setting. Field is the name the value had where it was written
// ("lat", "minLon", "radius_m"), so a config checker can point at its key.
type FieldError struct {
	Field  string
	Reason string
}

// Error returns "field: reason".
func (e *FieldError) Error() string { return e.Field + ": " + e.Reason }
