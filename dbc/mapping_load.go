package dbc

import (
	"fmt"
	"math"
	"os"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/kanal-dev/kanal/catalog"
	"github.com/kanal-dev/kanal/internal/yamlfile"
)

// MappingVersion is the mapping file format this package reads.
const MappingVersion = 1

// maxIntervalMS bounds interval_ms: a day. A longer interval is a typo.
const maxIntervalMS = 24 * 60 * 60 * 1000

// BusDatabases says which DBC files describe which bus: bus name → files.
// Files under the key "" describe every bus (`--dbc F` without `--bus`).
type BusDatabases map[string][]*Database

var (
	mappingTopFields  = []string{"version", "signals"}
	mappingRuleFields = []string{"path", "dbc", "transform", "on_change", "interval_ms", "deadband", "priority"}
	mappingDBCFields  = []string{"bus", "message", "signal"}
	mappingTxFields   = []string{"math", "scale", "offset", "round", "mapping"}
	mappingMapFields  = []string{"from", "to"}
)

// LoadMapping reads a mapping file and checks every rule against the
// catalog and the DBC files. It collects every mistake (unknown DBC message
// or signal, unknown catalog path, a type that does not fit, bad sampling)
// and returns them together, each as file:line:column.
func LoadMapping(path string, cat *catalog.Catalog, dbs BusDatabases) (*Mapping, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load mapping: %w", err)
	}
	return ParseMapping(path, data, cat, dbs)
}

// ParseMapping is LoadMapping on file contents; name is used in errors.
func ParseMapping(name string, data []byte, cat *catalog.Catalog, dbs BusDatabases) (*Mapping, error) {
	root, err := yamlfile.Parse(name, data)
	if err != nil {
		return nil, err
	}
	l := &mappingLoader{errs: &yamlfile.Errors{File: name}, cat: cat, dbs: dbs,
		m: &Mapping{File: name}, bound: map[string]int{}, paths: map[string]int{}}
	var sawVersion bool
	var list *yaml.Node
	l.errs.Pairs(root, mappingTopFields, func(key string, k, v *yaml.Node) {
		switch key {
		case "version":
			sawVersion = true
			var ver int64
			if l.errs.Scalar(v, "version", &ver) && ver != MappingVersion {
				l.errs.Addf(v, "version %d is not supported (want %d)", ver, MappingVersion)
			}
		case "signals":
			list = v
		}
	})
	if !sawVersion {
		l.errs.Addf(root, "missing version: %d", MappingVersion)
	}
	switch {
	case list == nil:
		l.errs.Addf(root, "missing signals list")
	case list.Kind != yaml.SequenceNode:
		l.errs.Addf(list, "signals: want a list of rules")
	default:
		for _, n := range list.Content {
			l.rule(n)
		}
	}
	if err := l.errs.Err(); err != nil {
		return nil, err
	}
	return l.m, nil
}

type mappingLoader struct {
	errs  *yamlfile.Errors
	cat   *catalog.Catalog
	dbs   BusDatabases
	m     *Mapping
	bound map[string]int // "bus\x00msg\x00sig" → line of the rule that maps it
	paths map[string]int // "bus\x00path" → line
}

// rule reads and checks one rule; a rule with any mistake is left out.
func (l *mappingLoader) rule(n *yaml.Node) {
	if n.Kind != yaml.MappingNode {
		l.errs.Addf(n, "rule: want a mapping with path and dbc")
		return
	}
	before := l.errs.Len()
	r := Rule{Line: n.Line, Scale: 1, Sampling: Sampling{Priority: PriorityNormal}}
	var pathNode, dbcNode, txNode, deadbandNode, intervalNode *yaml.Node
	var entry *catalog.Entry
	l.errs.Pairs(n, mappingRuleFields, func(key string, k, v *yaml.Node) {
		switch key {
		case "path":
			pathNode = v
			if l.errs.Scalar(v, "path", &r.Path) {
				var ok bool
				if entry, ok = l.cat.ByPath(r.Path); !ok {
					l.errs.Addf(v, "unknown catalog path %q%s", r.Path, l.suggestPath(r.Path))
				} else if entry.Type == catalog.Cell {
					l.errs.Addf(v, "%s is a grid cell the agent computes from the position; map Vehicle.CurrentLocation.Latitude and Longitude instead", r.Path)
					entry = nil
				} else {
					r.ID, r.Type, r.Entry = entry.ID, entry.Type, entry
				}
			}
		case "dbc":
			dbcNode = v
		case "transform":
			txNode = v
		case "on_change":
			l.errs.Scalar(v, "on_change", &r.Sampling.OnChange)
		case "interval_ms":
			intervalNode = v
			var ms int64
			if !l.errs.Scalar(v, "interval_ms", &ms) {
				intervalNode = nil // reported; do not report it again as missing
				r.Sampling.IntervalMS = 1
			} else if ms < 0 || ms > maxIntervalMS {
				l.errs.Addf(v, "interval_ms %d out of range 0–%d", ms, maxIntervalMS)
				r.Sampling.IntervalMS = 1
			} else {
				r.Sampling.IntervalMS = uint32(ms)
			}
		case "deadband":
			deadbandNode = v
			if l.errs.Scalar(v, "deadband", &r.Sampling.Deadband) &&
				(r.Sampling.Deadband < 0 || math.IsNaN(r.Sampling.Deadband) || math.IsInf(r.Sampling.Deadband, 0)) {
				l.errs.Addf(v, "deadband %v: want a finite number ≥ 0", r.Sampling.Deadband)
			}
		case "priority":
			var s string
			if l.errs.Scalar(v, "priority", &s) {
				p, err := catalog.ParsePriority(s)
				if err != nil {
					l.errs.Addf(v, "%v", err)
				}
				r.Sampling.Priority = p
			}
		}
	})
	if pathNode == nil {
		l.errs.Addf(n, "rule is missing path")
	}
	var sig *Signal
	if dbcNode == nil {
		l.errs.Addf(n, "rule is missing dbc: {message, signal}")
	} else {
		sig = l.signal(dbcNode, &r)
	}
	l.sampling(n, &r, entry, deadbandNode, intervalNode)
	if sig != nil && entry != nil {
		l.transform(n, txNode, &r, sig, entry)
	} else if txNode != nil {
		l.transform(n, txNode, &r, nil, nil) // still report its own mistakes
	}
	if l.errs.Len() == before {
		l.unique(n, &r)
	}
	if l.errs.Len() == before {
		l.m.Rules = append(l.m.Rules, r)
	}
}

// signal resolves the dbc: {bus, message, signal} block.
func (l *mappingLoader) signal(v *yaml.Node, r *Rule) *Signal {
	if v.Kind != yaml.MappingNode {
		l.errs.Addf(v, "dbc: want {message: ..., signal: ...}")
		return nil
	}
	var msgNode, sigNode *yaml.Node
	var badBus bool
	l.errs.Pairs(v, mappingDBCFields, func(key string, k, val *yaml.Node) {
		switch key {
		case "bus":
			switch {
			case !l.errs.Scalar(val, "bus", &r.Bus):
				badBus = true
			case r.Bus == "":
				l.errs.Addf(val, "bus: empty name")
				badBus = true
			case len(l.databases(r.Bus)) == 0:
				l.errs.Addf(val, "unknown bus %q (buses with DBC files: %s)", r.Bus, l.busList())
				badBus = true
			}
		case "message":
			msgNode = val
			l.errs.Scalar(val, "message", &r.Message)
		case "signal":
			sigNode = val
			l.errs.Scalar(val, "signal", &r.Signal)
		}
	})
	if msgNode == nil || sigNode == nil {
		l.errs.Addf(v, "dbc: want both message and signal")
		return nil
	}
	if badBus {
		return nil
	}
	var msg *Message
	for _, db := range l.databases(r.Bus) {
		if msg = db.Message(r.Message); msg != nil {
			break
		}
	}
	if msg == nil {
		if r.Message != "" {
			l.errs.Addf(msgNode, "unknown DBC message %q%s", r.Message, l.inFiles(r.Bus))
		}
		return nil
	}
	sig := msg.Signal(r.Signal)
	if sig == nil {
		l.errs.Addf(sigNode, "message %s (%s) has no signal %q", msg.Name, msg.Pos, r.Signal)
		return nil
	}
	if ok, why := sig.Decoded(); !ok {
		l.errs.Addf(sigNode, "signal %s.%s (%s) is never decoded: %s", msg.Name, sig.Name, sig.Pos, why)
		return nil
	}
	return sig
}

// databases returns the DBC files that describe bus ("" for all of them).
func (l *mappingLoader) databases(bus string) []*Database {
	if bus != "" {
		if _, ok := l.dbs[bus]; !ok && len(l.dbs[""]) == 0 {
			return nil
		}
		return append(append([]*Database(nil), l.dbs[bus]...), l.dbs[""]...)
	}
	keys := make([]string, 0, len(l.dbs))
	for k := range l.dbs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var out []*Database
	for _, k := range keys {
		out = append(out, l.dbs[k]...)
	}
	return out
}

func (l *mappingLoader) busList() string {
	var names []string
	for k := range l.dbs {
		if k != "" {
			names = append(names, k)
		}
	}
	sort.Strings(names)
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

func (l *mappingLoader) inFiles(bus string) string {
	var files []string
	for _, db := range l.databases(bus) {
		files = append(files, db.File)
	}
	if len(files) == 0 {
		return " (no DBC files loaded)"
	}
	return " in " + strings.Join(files, ", ")
}

// suggestPath names a catalog path with the same last segment, for typos in
// the branch.
func (l *mappingLoader) suggestPath(p string) string {
	last := p[strings.LastIndexByte(p, '.')+1:]
	for _, e := range l.cat.Entries() {
		if strings.HasSuffix(e.Path, "."+last) && strings.EqualFold(e.Path, p) {
			return fmt.Sprintf(" (did you mean %s?)", e.Path)
		}
	}
	return ""
}

// sampling checks the sampling attributes against each other and the type.
func (l *mappingLoader) sampling(n *yaml.Node, r *Rule, e *catalog.Entry, deadbandNode, intervalNode *yaml.Node) {
	s := &r.Sampling
	if !s.OnChange && s.IntervalMS == 0 && intervalNode == nil {
		l.errs.Addf(n, "rule needs on_change: true or interval_ms > 0 (when should the uplink send it?)")
	} else if !s.OnChange && s.IntervalMS == 0 {
		l.errs.Addf(intervalNode, "interval_ms 0 sends nothing for a periodic signal: set on_change: true or a positive interval")
	}
	if deadbandNode == nil || s.Deadband == 0 {
		return
	}
	switch {
	case !s.OnChange:
		l.errs.Addf(deadbandNode, "deadband applies only with on_change: true")
	case e != nil && (e.Type == catalog.Bool || e.Type == catalog.Enum):
		l.errs.Addf(deadbandNode, "deadband is meaningless for %s %s: every change counts", e.Type, e.Path)
	}
}

// unique rejects a second rule for the same DBC signal (a Value carries one
// Target) or for the same catalog path on the same bus.
func (l *mappingLoader) unique(n *yaml.Node, r *Rule) {
	sigKey := r.Message + "\x00" + r.Signal
	for _, bus := range []string{r.Bus, "*"} {
		if line, ok := l.bound[bus+"\x00"+sigKey]; ok {
			l.errs.Addf(n, "signal %s.%s is already mapped at line %d (one DBC signal feeds one catalog entry)", r.Message, r.Signal, line)
			return
		}
	}
	if r.Bus == "" {
		for k, line := range l.bound {
			if strings.HasSuffix(k, "\x00"+sigKey) {
				l.errs.Addf(n, "signal %s.%s is already mapped at line %d (one DBC signal feeds one catalog entry)", r.Message, r.Signal, line)
				return
			}
		}
	}
	pathKey := r.Bus + "\x00" + r.Path
	if line, ok := l.paths[pathKey]; ok {
		l.errs.Addf(n, "%s is already mapped at line %d", r.Path, line)
		return
	}
	bus := r.Bus
	if bus == "" {
		bus = "*"
	}
	l.bound[bus+"\x00"+sigKey] = n.Line
	l.paths[pathKey] = n.Line
}
