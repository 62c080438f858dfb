package dbc

import (
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"

	"github.com/kanal-dev/kanal/can"
	"github.com/kanal-dev/kanal/catalog"
)

// PipelineOptions says which DBC files describe which bus, and how their
// signals map to the catalog: the `buses` section of the agent's config, and
// the --dbc, --bus, --mapping and --catalog flags of decode, run and
// check-config.
type PipelineOptions struct {
	// DBC are the files of every bus Buses does not name.
	DBC []string `yaml:"dbc"`
	// Buses gives one bus its own files: bus name → files. When two files
	// define the same id, the one named last wins, as in cantools.
	Buses map[string][]string `yaml:"per_bus"`
	// Mapping is the mapping file (DBC signal → catalog entry, with the
	// uplink's sampling); optional for decode, required for run.
	Mapping string `yaml:"mapping"`
	// Catalogs extend the embedded default catalog.
	Catalogs []string `yaml:"catalogs"`
	// Logger receives the warnings of loading (DBC problems, shadowed
	// messages); nil means slog.Default().
	Logger *slog.Logger `yaml:"-"`
}

// Pipeline is the decoding half of the agent, shared by decode, run,
// check-config and the simulator: each bus's DBC files compiled into a Plan,
// the mapping bound to each bus, and the catalog. One frame goes in, its DBC
// signal values and its catalog values come out (Decode).
//
// Plans are immutable and shared: a bus's bindings (which signal feeds which
// mapping rule) live beside its plan, not inside it, so buses that read the
// same files share one plan. A Pipeline counts what it decodes and is not
// safe for concurrent use; give each goroutine its own (NewPipeline is cheap
// after the first: files are read once per call).
type Pipeline struct {
	cat     *catalog.Catalog
	mapping *Mapping
	dec     *Decoder // the plans by bus, and the counts
	buses   map[string]*busPlan
	def     *busPlan // for buses Buses does not name; nil without DBC
	files   map[string]*Database
	names   []string // buses with plans of their own, sorted

	last   string
	lastBP *busPlan

	// Stats counts every frame given to Decode: the Decoder's counts, and
	// the catalog values produced (Normalized).
	Stats Stats
}

// busPlan is one bus's plan and its bindings.
type busPlan struct {
	plan  *Plan
	rules []int32 // by SigRef: the mapping rule the signal feeds, or NoTarget
	ids   []uint32
}

// FrameValues is one frame through the pipeline. Reuse one FrameValues across Decode
// calls: its slices keep their capacity, and Decode then never allocates.
type FrameValues struct {
	Plan   *Plan  // the plan of the frame's bus; nil when it has none
	Result Result // decoded or why not
	// Values are the DBC signal values, in DBC order.
	Values []Value
	// Rules is parallel to Values: the index into Mapping().Rules of the
	// rule a value feeds, or NoTarget.
	Rules []int32
	// Catalog are the catalog values of the mapped signals, the transform
	// applied, timed by the frame. A value map that does not list a raw
	// value yields no catalog value.
	Catalog []catalog.Value
}

// NewPipeline loads the DBC files (each once), compiles a plan per bus,
// loads the catalog and, when given, the mapping, checked against both:
// every mistake is reported with file and line.
func NewPipeline(opts PipelineOptions) (*Pipeline, error) {
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	if len(opts.DBC) == 0 && len(opts.Buses) == 0 {
		return nil, errors.New("no DBC file: give dbc files for every bus, or per_bus files")
	}
	p := &Pipeline{buses: map[string]*busPlan{}, files: map[string]*Database{}}
	load := func(paths []string) ([]*Database, error) {
		var dbs []*Database
		for _, path := range paths {
			db, ok := p.files[path]
			if !ok {
				var err error
				if db, err = Load(path); err != nil {
					return nil, err
				}
				if n := len(db.Problems); n > 0 {
					log.Warn("DBC file has problems; run `edge-agent dbc lint` for the list", "file", path, "count", n, "first", db.Problems[0].String())
				}
				p.files[path] = db
			}
			dbs = append(dbs, db)
		}
		return dbs, nil
	}
	busDBs := BusDatabases{}
	plans := map[string]*Plan{} // by the files' joined names: buses with the same files share a plan
	compile := func(key string, paths []string) (*Plan, error) {
		dbs, err := load(paths)
		if err != nil {
			return nil, err
		}
		busDBs[key] = dbs
		id := strings.Join(paths, "\x00")
		if pl, ok := plans[id]; ok {
			return pl, nil
		}
		pl, err := NewPlan(dbs...)
		if err != nil {
			return nil, err
		}
		for _, s := range pl.Shadowed {
			log.Warn("message ignored", "problem", s.String())
		}
		plans[id] = pl
		return pl, nil
	}
	for bus, paths := range opts.Buses {
		if bus == "" || len(paths) == 0 {
			return nil, fmt.Errorf("per_bus: bus %q: want a bus name and at least one DBC file", bus)
		}
		pl, err := compile(bus, paths)
		if err != nil {
			return nil, err
		}
		p.buses[bus] = &busPlan{plan: pl}
		p.names = append(p.names, bus)
	}
	sort.Strings(p.names)
	if len(opts.DBC) > 0 {
		pl, err := compile("", opts.DBC)
		if err != nil {
			return nil, err
		}
		p.def = &busPlan{plan: pl}
	}
	var err error
	if p.cat, err = catalog.Load(opts.Catalogs...); err != nil {
		return nil, err
	}
	if opts.Mapping != "" {
		if p.mapping, err = LoadMapping(opts.Mapping, p.cat, busDBs); err != nil {
			return nil, err
		}
		// A rule for a bus without files of its own reads that bus through
		// the default files: that bus gets bindings of its own.
		for _, r := range p.mapping.Rules {
			if _, ok := p.buses[r.Bus]; r.Bus != "" && !ok && p.def != nil {
				p.buses[r.Bus] = &busPlan{plan: p.def.plan}
				p.names = append(p.names, r.Bus)
				sort.Strings(p.names)
			}
		}
	}
	for _, bus := range p.names {
		if err := p.bind(bus, p.buses[bus]); err != nil {
			return nil, err
		}
	}
	if p.def != nil {
		if err := p.bind("", p.def); err != nil {
			return nil, err
		}
	}
	perBus := make(map[string]*Plan, len(p.buses))
	for bus, bp := range p.buses {
		perBus[bus] = bp.plan
	}
	var def *Plan
	if p.def != nil {
		def = p.def.plan
	}
	p.dec = NewDecoder(def, perBus)
	return p, nil
}

// bind works out which signal of bp's plan feeds which rule on bus ("" for
// the buses without files of their own). A rule naming this bus whose signal
// the plan lacks is an error; a rule without a bus binds wherever its
// message is.
func (p *Pipeline) bind(bus string, bp *busPlan) error {
	bp.rules = make([]int32, len(bp.plan.Signals()))
	for i := range bp.rules {
		bp.rules[i] = NoTarget
	}
	if p.mapping != nil {
		for i := range p.mapping.Rules {
			r := &p.mapping.Rules[i]
			if r.Bus != "" && r.Bus != bus {
				continue
			}
			ref, ok := bp.plan.Lookup(r.Message, r.Signal)
			if !ok {
				if r.Bus == bus {
					return fmt.Errorf("%s:%d: bus %s has no signal %s.%s", p.mapping.File, r.Line, bus, r.Message, r.Signal)
				}
				continue
			}
			bp.rules[ref] = int32(i)
		}
	}
	// the ids of messages with a bound signal: the kernel filters of an agent
	seen := map[MsgRef]bool{}
	for ref, rule := range bp.rules {
		if rule == NoTarget {
			continue
		}
		m := bp.plan.Signal(SigRef(ref)).Message
		for mi, pm := range bp.plan.Messages() {
			if pm == m && !seen[MsgRef(mi)] {
				seen[MsgRef(mi)] = true
				bp.ids = append(bp.ids, m.dbcID())
			}
		}
	}
	sort.Slice(bp.ids, func(i, j int) bool { return bp.ids[i] < bp.ids[j] })
	return nil
}

// busPlan returns the plan and bindings of bus, nil when it has none.
func (p *Pipeline) busPlan(bus string) *busPlan {
	if bus == p.last && p.lastBP != nil {
		return p.lastBP
	}
	bp, ok := p.buses[bus]
	if !ok {
		bp = p.def
	}
	p.last, p.lastBP = bus, bp
	return bp
}

// Decode decodes one frame into f: its DBC values, their rules and the
// catalog values. It does not allocate once f's slices have grown to the
// largest frame (MaxValues).
func (p *Pipeline) Decode(t *can.Timed, f *FrameValues) {
	f.Rules, f.Catalog = f.Rules[:0], f.Catalog[:0]
	if cap(f.Values) < p.dec.MaxValues() {
		f.Values = make([]Value, 0, p.dec.MaxValues())
	}
	f.Values, f.Plan, f.Result = p.dec.Decode(t, f.Values)
	n := p.Stats.Normalized
	p.Stats = p.dec.Stats
	p.Stats.Normalized = n
	if f.Result.Status != Decoded || p.mapping == nil {
		return
	}
	rules := p.busPlan(t.Bus).rules
	ns := t.Time.UnixNano()
	for _, v := range f.Values {
		rule := rules[v.Sig]
		f.Rules = append(f.Rules, rule)
		if rule == NoTarget {
			continue
		}
		r := &p.mapping.Rules[rule]
		if num, ok := r.Convert(v.Raw, v.Num); ok {
			f.Catalog = append(f.Catalog, catalog.Value{ID: r.ID, Time: ns, Num: num})
		}
	}
	p.Stats.Normalized += uint64(len(f.Catalog))
}

// MaxValues is the most values one frame of any bus decodes to.
func (p *Pipeline) MaxValues() int { return p.dec.MaxValues() }

// Catalog returns the catalog the mapping was checked against.
func (p *Pipeline) Catalog() *catalog.Catalog { return p.cat }

// Mapping returns the mapping, nil without one.
func (p *Pipeline) Mapping() *Mapping { return p.mapping }

// Plan returns the plan bus is decoded with, nil when it has none.
func (p *Pipeline) Plan(bus string) *Plan { return p.dec.Plan(bus) }

// IDs returns the ids bus needs in DBC form (a 29-bit id carries the
// 0x80000000 flag, as the kernel's CAN_EFF_FLAG does), for its kernel
// filters (socketcan.FiltersFor): with mapped, only messages with a mapped
// signal; otherwise every message of its plan.
func (p *Pipeline) IDs(bus string, mapped bool) []uint32 {
	bp := p.busPlan(bus)
	if bp == nil {
		return nil
	}
	if mapped {
		return append([]uint32(nil), bp.ids...)
	}
	return bp.plan.IDs()
}

// Sampling returns the uplink's sampling policy of every mapped catalog id.
// A path mapped on several buses takes its first rule's sampling.
func (p *Pipeline) Sampling() map[uint32]catalog.Sampling {
	out := map[uint32]catalog.Sampling{}
	if p.mapping == nil {
		return out
	}
	for _, r := range p.mapping.Rules {
		if _, ok := out[r.ID]; !ok {
			out[r.ID] = r.Sampling
		}
	}
	return out
}
