package geo

import (
	"errors"
	"fmt"

	"gopkg.in/yaml.v3"
)

// zoneKeys are the keys of a zone in a config file, all required.
var zoneKeys = [4]string{"name", "lat", "lon", "radius_m"}

// UnmarshalYAML reads a zone and checks it, naming the line of each mistake.
// yaml.v3 alone would accept a zone with a key missing or misspelt
// ("lng: 11.5") as a zone at longitude 0: a privacy zone silently in the
// wrong place. So every key is required, an unknown key is an error, and the
// values are validated as Validate does. The mistakes come back as a
// *yaml.TypeError, which yaml.v3 collects with the rest of the file's.
func (z *Zone) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.MappingNode {
		return typeErrorf("line %d: zone: want a mapping with keys name, lat, lon, radius_m", n.Line)
	}
	var (
		v     Zone
		msgs  []string
		lines = map[string]int{} // key → line
	)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if _, dup := lines[k.Value]; dup {
			msgs = append(msgs, fmt.Sprintf("line %d: zone: %s given twice (also line %d)", k.Line, k.Value, lines[k.Value]))
			continue
		}
		var dst any
		switch k.Value {
		case "name":
			dst = &v.Name
		case "lat":
			dst = &v.Lat
		case "lon":
			dst = &v.Lng
		case "radius_m":
			dst = &v.RadiusM
		default:
			msgs = append(msgs, fmt.Sprintf("line %d: zone: unknown key %q (want name, lat, lon, radius_m)", k.Line, k.Value))
			continue
		}
		lines[k.Value] = k.Line
		if err := val.Decode(dst); err != nil {
			msgs = append(msgs, decodeErrors(err, k.Value, val.Line)...)
		}
	}
	for _, key := range zoneKeys {
		if _, ok := lines[key]; !ok {
			msgs = append(msgs, fmt.Sprintf("line %d: zone: %s is required", n.Line, key))
		}
	}
	if len(msgs) == 0 {
		if err := v.Validate(); err != nil {
			line := n.Line
			var fe *FieldError
			if errors.As(err, &fe) && lines[fe.Field] != 0 {
				line = lines[fe.Field]
			}
			msgs = append(msgs, fmt.Sprintf("line %d: zone %q: %v", line, v.Name, err))
		}
	}
	if len(msgs) > 0 {
		return &yaml.TypeError{Errors: msgs}
	}
	*z = v
	return nil
}

// decodeErrors returns the messages of an error decoding the value of key:
// yaml.v3's own type errors already start with their line.
func decodeErrors(err error, key string, line int) []string {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		out := make([]string, len(te.Errors))
		for i, m := range te.Errors {
			out[i] = m + " (zone " + key + ")"
		}
		return out
	}
	return []string{fmt.Sprintf("line %d: zone: %s: %v", line, key, err)}
}

func typeErrorf(format string, args ...any) error {
	return &yaml.TypeError{Errors: []string{fmt.Sprintf(format, args...)}}
}
