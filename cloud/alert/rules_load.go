package alert

import (
	"fmt"
	"os"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/kanal-dev/kanal/catalog"
	"github.com/kanal-dev/kanal/internal/yamlfile"
)

var (
	rulesTopFields       = []string{"version", "fog", "warning", "breakdown", "max_lateness", "max_clock_skew", "silent_after"}
	rulesFogFields       = []string{"min_vehicles", "window", "clear_after"}
	rulesWarningFields   = []string{"lamps"}
	rulesBreakdownFields = []string{"stopped_for"}
)

// LoadRules reads a rules file (see Rules for its keys). Keys left out keep
// their defaults. Every mistake (an unknown key, a duration that does not
// parse or is out of range, an unknown lamp) is reported with file, line
// and column, all of them at once. cat resolves lamp names; nil means
// catalog.Default().
func LoadRules(path string, cat *catalog.Catalog) (Rules, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Rules{}, fmt.Errorf("load rules: %w", err)
	}
	return ParseRules(path, data, cat)
}

// ParseRules is LoadRules on file contents; name is used in errors. The
// Rules it returns have every default filled in.
func ParseRules(name string, data []byte, cat *catalog.Catalog) (Rules, error) {
	root, err := yamlfile.Parse(name, data)
	if err != nil {
		return Rules{}, err
	}
	l := rulesLoader{errs: &yamlfile.Errors{File: name}, lamps: lampNames(cat)}
	var r Rules
	l.errs.Pairs(root, rulesTopFields, func(key string, _, v *yaml.Node) {
		switch key {
		case "version":
			var ver int64
			if l.errs.Scalar(v, "version", &ver) && ver != defaultRulesFileFormat {
				l.errs.Addf(v, "version %d is not supported (want %d)", ver, defaultRulesFileFormat)
			}
		case "fog":
			l.fog(v, &r.Fog)
		case "warning":
			l.section(v, "warning", rulesWarningFields, func(key string, v *yaml.Node) { r.Warning.Lamps = l.lampList(v) })
		case "breakdown":
			l.section(v, "breakdown", rulesBreakdownFields, func(key string, v *yaml.Node) {
				l.duration(v, "breakdown.stopped_for", &r.Breakdown.StoppedFor)
			})
		case "max_lateness":
			l.duration(v, key, &r.MaxLateness)
		case "max_clock_skew":
			l.duration(v, key, &r.MaxClockSkew)
		case "silent_after":
			l.duration(v, key, &r.SilentAfter)
		}
	})
	if err := l.errs.Err(); err != nil {
		return Rules{}, err
	}
	out, err := r.withDefaults(cat)
	if err != nil { // the loader checked every field; this is a bug, named anyway
		return Rules{}, fmt.Errorf("%s: %w", name, err)
	}
	return out, nil
}

type rulesLoader struct {
	errs  *yamlfile.Errors
	lamps []string
}

// section walks the mapping of one rule, calling fn for each known key.
func (l *rulesLoader) section(n *yaml.Node, name string, fields []string, fn func(key string, v *yaml.Node)) {
	if n.Kind != yaml.MappingNode {
		l.errs.Addf(n, "%s: want a mapping with %v", name, fields)
		return
	}
	l.errs.Pairs(n, fields, func(key string, _, v *yaml.Node) { fn(key, v) })
}

func (l *rulesLoader) fog(n *yaml.Node, f *FogRule) {
	l.section(n, "fog", rulesFogFields, func(key string, v *yaml.Node) {
		switch key {
		case "min_vehicles":
			var m int64
			if !l.errs.Scalar(v, "fog.min_vehicles", &m) {
				return
			}
			if m < 1 || m > maxFogMinVehicles {
				l.errs.Addf(v, "fog.min_vehicles %d: want 1 to %d", m, maxFogMinVehicles)
				return
			}
			f.MinVehicles = int(m)
		case "window":
			l.duration(v, "fog.window", &f.Window)
		case "clear_after":
			l.duration(v, "fog.clear_after", &f.ClearAfter)
		}
	})
}

// duration reads a Go duration ("90s", "5m") within the rules' bounds.
func (l *rulesLoader) duration(v *yaml.Node, what string, out *time.Duration) {
	var s string
	if !l.errs.Scalar(v, what, &s) {
		return
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		l.errs.Addf(v, "%s: %q is not a duration (write it as Go does: 90s, 5m, 1h30m)", what, s)
		return
	}
	if err := checkDuration(d); err != nil {
		l.errs.Addf(v, "%s %v: %v", what, d, err)
		return
	}
	*out = d
}

// lampList reads warning.lamps: a list of short names or paths. An empty
// list is kept empty (no warning alerts), not replaced by the defaults.
func (l *rulesLoader) lampList(v *yaml.Node) []string {
	if v.Kind != yaml.SequenceNode {
		l.errs.Addf(v, "warning.lamps: want a list of lamp names, e.g. [ABS, Airbag]")
		return nil
	}
	out := []string{}
	seen := map[string]int{}
	for _, n := range v.Content {
		var s string
		if !l.errs.Scalar(n, "warning.lamps", &s) {
			continue
		}
		name, err := lampName(s, l.lamps)
		if err != nil {
			l.errs.Addf(n, "warning.lamps: %v", err)
			continue
		}
		if line, dup := seen[name]; dup {
			l.errs.Addf(n, "warning.lamps: %s is listed twice (first on line %d)", name, line)
			continue
		}
		seen[name] = n.Line
		out = append(out, name)
	}
	return out
}
