package catalog

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/kanal-dev/kanal/internal/yamlfile"
)

// FormatVersion is the catalog file format this package reads.
const FormatVersion = 1

var (
	topFields   = []string{"version", "retired", "signals"}
	entryFields = []string{"id", "path", "type", "unit", "min", "max", "allowed", "description"}
)

// parse reads one catalog file and returns base extended with its entries.
// Ids must lie in [lo, hi]. Every mistake is collected.
func parse(name string, data []byte, base *Catalog, lo, hi uint32) (*Catalog, error) {
	root, err := yamlfile.Parse(name, data)
	if err != nil {
		return nil, err
	}
	errs := &yamlfile.Errors{File: name}
	var (
		add         []Entry
		retired     = map[uint32]string{}
		sawVersion  bool
		signalsNode *yaml.Node
	)
	errs.Pairs(root, topFields, func(key string, k, v *yaml.Node) {
		switch key {
		case "version":
			sawVersion = true
			var ver int64
			if errs.Scalar(v, "version", &ver) && ver != FormatVersion {
				errs.Addf(v, "version %d is not supported (want %d)", ver, FormatVersion)
			}
		case "retired":
			parseRetired(errs, v, retired)
		case "signals":
			signalsNode = v
		}
	})
	if !sawVersion {
		errs.Addf(root, "missing version: %d", FormatVersion)
	}
	if signalsNode == nil {
		errs.Addf(root, "missing signals list")
	} else if signalsNode.Kind != yaml.SequenceNode {
		if !(signalsNode.Kind == yaml.ScalarNode && signalsNode.Tag == "!!null") {
			errs.Addf(signalsNode, "signals: want a list")
		}
	} else {
		add = parseEntries(errs, signalsNode, name)
	}
	checkIDs(errs, base, add, retired, lo, hi)
	if err := errs.Err(); err != nil {
		return nil, err
	}
	return build(base, add, retired), nil
}

func parseRetired(errs *yamlfile.Errors, v *yaml.Node, retired map[uint32]string) {
	if v.Kind != yaml.SequenceNode {
		errs.Addf(v, "retired: want a list of ids")
		return
	}
	for _, n := range v.Content {
		var id uint64
		if !errs.Scalar(n, "retired id", &id) {
			continue
		}
		if id == 0 || id > math.MaxUint32 {
			errs.Addf(n, "retired id %d out of range", id)
			continue
		}
		retired[uint32(id)] = fmt.Sprintf("%s:%d", errs.File, n.Line)
	}
}

func parseEntries(errs *yamlfile.Errors, list *yaml.Node, name string) []Entry {
	out := make([]Entry, 0, len(list.Content))
	for _, n := range list.Content {
		if n.Kind != yaml.MappingNode {
			errs.Addf(n, "signal: want a mapping with id, path, type, …")
			continue
		}
		if e, ok := parseEntry(errs, n, name); ok {
			out = append(out, e)
		}
	}
	return out
}

// parseEntry reads one signal; ok is false when it had a mistake (recorded).
func parseEntry(errs *yamlfile.Errors, n *yaml.Node, name string) (Entry, bool) {
	before := errs.Len()
	e := Entry{File: name, Line: n.Line}
	var sawID, sawPath, sawType bool
	var minNode, maxNode, allowedNode *yaml.Node
	errs.Pairs(n, entryFields, func(key string, k, v *yaml.Node) {
		switch key {
		case "id":
			sawID = true
			var id uint64
			if errs.Scalar(v, "id", &id) {
				if id == 0 || id > math.MaxUint32 {
					errs.Addf(v, "id %d out of range 1–%d", id, uint32(math.MaxUint32))
				}
				e.ID = uint32(id)
			}
		case "path":
			sawPath = true
			if errs.Scalar(v, "path", &e.Path) {
				if err := checkPath(e.Path); err != nil {
					errs.Addf(v, "path %q: %v", e.Path, err)
				}
			}
		case "type":
			sawType = true
			var s string
			if errs.Scalar(v, "type", &s) {
				t, err := ParseType(s)
				if err != nil {
					errs.Addf(v, "%v", err)
				}
				e.Type = t
			}
		case "unit":
			errs.Scalar(v, "unit", &e.Unit)
		case "description":
			errs.Scalar(v, "description", &e.Description)
		case "min":
			minNode = v
			e.HasMin = errs.Scalar(v, "min", &e.Min)
		case "max":
			maxNode = v
			e.HasMax = errs.Scalar(v, "max", &e.Max)
		case "allowed":
			allowedNode = v
			e.Allowed = parseAllowed(errs, v)
		}
	})
	for _, m := range []struct {
		saw  bool
		what string
	}{{sawID, "id"}, {sawPath, "path"}, {sawType, "type"}} {
		if !m.saw {
			errs.Addf(n, "signal is missing %s", m.what)
		}
	}
	checkLimits(errs, n, &e, minNode, maxNode, allowedNode)
	return e, errs.Len() == before
}

func parseAllowed(errs *yamlfile.Errors, v *yaml.Node) []string {
	if v.Kind != yaml.SequenceNode || len(v.Content) == 0 {
		errs.Addf(v, "allowed: want a non-empty list of labels")
		return nil
	}
	out := make([]string, 0, len(v.Content))
	for _, a := range v.Content {
		var s string
		if !errs.Scalar(a, "allowed label", &s) {
			continue
		}
		if s == "" || slices.Contains(out, s) {
			errs.Addf(a, "allowed label %q is empty or repeated", s)
			continue
		}
		out = append(out, s)
	}
	return out
}

// checkLimits checks min, max and allowed against the type.
func checkLimits(errs *yamlfile.Errors, entryNode *yaml.Node, e *Entry, minNode, maxNode, allowedNode *yaml.Node) {
	if !e.Type.Valid() {
		return
	}
	switch {
	case e.Type == Enum && allowedNode == nil:
		errs.Addf(entryNode, "%s: an enum needs an allowed list", e.Path)
	case e.Type != Enum && allowedNode != nil:
		errs.Addf(allowedNode, "allowed is only valid for type enum, not %s", e.Type)
	case e.Type == Enum && len(e.Allowed) > math.MaxUint16+1:
		errs.Addf(allowedNode, "allowed has %d labels, at most %d", len(e.Allowed), math.MaxUint16+1)
	}
	lo, hi := e.Type.Range()
	for _, b := range []struct {
		node *yaml.Node
		has  bool
		v    float64
	}{{minNode, e.HasMin, e.Min}, {maxNode, e.HasMax, e.Max}} {
		switch {
		case !b.has:
		case e.Type == Bool || e.Type == Enum || e.Type == Cell:
			errs.Addf(b.node, "min and max are not valid for type %s", e.Type)
		case math.IsNaN(b.v) || b.v < lo || b.v > hi:
			errs.Addf(b.node, "%v is outside the range of %s", b.v, e.Type)
		}
	}
	if e.HasMin && e.HasMax && e.Min > e.Max {
		errs.Addf(minNode, "min %v is greater than max %v", e.Min, e.Max)
	}
}

// checkPath accepts dotted identifiers of at least two segments, as VSS
// names are: letters, digits and underscores, starting with a letter.
func checkPath(p string) error {
	segs := strings.Split(p, ".")
	if len(segs) < 2 {
		return fmt.Errorf("want at least two dot-separated names, like Vehicle.Speed")
	}
	for _, s := range segs {
		if s == "" {
			return fmt.Errorf("empty name between dots")
		}
		for i, r := range s {
			letter := r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z'
			if !letter && (i == 0 || r != '_' && (r < '0' || r > '9')) {
				return fmt.Errorf("name %q: want letters, digits and underscores, starting with a letter", s)
			}
		}
	}
	return nil
}

// checkIDs checks the new entries against each other, the base catalog,
// the retired ids and the allowed id range.
func checkIDs(errs *yamlfile.Errors, base *Catalog, add []Entry, retired map[uint32]string, lo, hi uint32) {
	ids := make(map[uint32]*Entry, len(add))
	paths := make(map[string]*Entry, len(add))
	for i := range add {
		e := &add[i]
		at := &yaml.Node{Line: e.Line}
		if e.ID < lo || e.ID > hi {
			errs.Addf(at, "%s: id %d (%#x) outside the range %#x–%#x of this file (user ids start at %#x)", e.Path, e.ID, e.ID, lo, hi, MinUserID)
		}
		if where, ok := retired[e.ID]; ok {
			errs.Addf(at, "%s: id %d is retired (%s) and can never be reused", e.Path, e.ID, where)
		} else if where, ok := base.retired[e.ID]; ok {
			errs.Addf(at, "%s: id %d is retired (%s) and can never be reused", e.Path, e.ID, where)
		}
		if prev, ok := ids[e.ID]; ok {
			errs.Addf(at, "%s: id %d already used by %s at %s:%d", e.Path, e.ID, prev.Path, prev.File, prev.Line)
		} else if prev, ok := base.ByID(e.ID); ok {
			errs.Addf(at, "%s: id %d already used by %s at %s:%d", e.Path, e.ID, prev.Path, prev.File, prev.Line)
		}
		if prev, ok := paths[e.Path]; ok {
			errs.Addf(at, "path %s already defined at %s:%d", e.Path, prev.File, prev.Line)
		} else if prev, ok := base.ByPath(e.Path); ok {
			errs.Addf(at, "path %s already defined at %s:%d", e.Path, prev.File, prev.Line)
		}
		ids[e.ID] = e
		paths[e.Path] = e
	}
}
