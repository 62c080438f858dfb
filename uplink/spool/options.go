package spool

import (
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"gopkg.in/yaml.v3"
)

// Options configures a Spool. Every field except Dir has a usable zero value;
// Open copies the struct and keeps no reference to it.
type Options struct {
	// Dir holds the segment files, the lock and the quarantine folder. Open
	// creates it. It must be on a local file system with flock and fsync
	// (ext4, f2fs, xfs), not on tmpfs if batches must survive a power loss.
	Dir string `yaml:"dir"`
	// MaxBytes is the disk budget: segment and ack files together stay
	// under it. 0 means DefaultMaxBytes. When an Append would exceed it the
	// oldest batches are dropped (see Spool.Append).
	MaxBytes Size `yaml:"max_bytes"`
	// SegmentBytes is the size at which the spool starts a new segment
	// file; 0 means DefaultSegmentBytes. Disk space comes back a segment at
	// a time (when all its batches are acked, or dropped by the budget), so
	// a smaller segment gives a finer budget and more files: each segment
	// keeps one file open, and MaxBytes/SegmentBytes may not exceed
	// MaxSegments.
	SegmentBytes Size `yaml:"segment_bytes"`
	// Fsync says when appended batches reach stable storage; "" means
	// FsyncBatch. See FsyncPolicy.
	Fsync FsyncPolicy `yaml:"fsync"`
	// FsyncInterval is the longest time a batch waits for its fsync under
	// FsyncInterval; 0 means DefaultFsyncInterval. Only valid with that
	// policy.
	FsyncInterval Duration `yaml:"fsync_interval"`
	// QuarantineBytes bounds Dir/quarantine, which is outside MaxBytes; 0
	// means DefaultQuarantineBytes. Beyond it the oldest quarantined batches
	// are deleted, so an agent that builds only invalid batches cannot fill
	// the disk.
	QuarantineBytes Size `yaml:"quarantine_max_bytes"`
	// Logger receives state changes: open, damage found at recovery, over
	// budget, quarantine. nil means slog.Default(). It never gets a line
	// per batch.
	Logger *slog.Logger `yaml:"-"`
	// Metrics registers the kanal_spool_* collectors; nil means not
	// registered. Close unregisters them, so a spool can be reopened on the
	// same registry.
	Metrics prometheus.Registerer `yaml:"-"`
}

// Defaults of Options.
const (
	// DefaultMaxBytes holds hours of a vehicle's batches (at 10 KiB/s,
	// seven hours) and fits the smallest eMMC partitions agents get.
	DefaultMaxBytes = 256 << 20
	// DefaultSegmentBytes gives 64 segments in DefaultMaxBytes: the budget
	// frees space in steps of 1.6 %, and a segment is deleted minutes after
	// it fills when the link is up.
	DefaultSegmentBytes = 4 << 20
	// DefaultFsyncInterval bounds what a power loss can take under
	// FsyncInterval to about a second of batches.
	DefaultFsyncInterval = time.Second
	// DefaultQuarantineBytes keeps a few hundred rejected batches for a
	// developer to look at.
	DefaultQuarantineBytes = 16 << 20
	// MaxSegments bounds MaxBytes/SegmentBytes: each segment holds one
	// open file, and a system unit usually has 1024.
	MaxSegments = 1024
	// minSegmentBytes keeps the header and a record's framing a small part
	// of a segment.
	minSegmentBytes = 1 << 10
)

// FsyncPolicy says when appended batches are forced to stable storage. Each
// policy survives a crash of the agent (kill -9, panic, OOM kill): what
// write(2) returned is in the kernel's page cache, and the next Open reads
// it. They differ on a power loss or a kernel crash.
type FsyncPolicy string

// Fsync policies.
const (
	// FsyncBatch fsyncs the segment before Append returns: a batch that
	// Append accepted survives a power loss. It is the default, because
	// losing data is the worst bug. Its cost is one fsync per batch (about
	// 1–10 ms on vehicle flash, at the agent's 1–10 batches/s); on an SD
	// card that wears, FsyncInterval is the trade-off.
	FsyncBatch FsyncPolicy = "batch"
	// FsyncInterval fsyncs the active segment at most every
	// Options.FsyncInterval, and a priority batch before Append returns. A
	// power loss can take the non-priority batches of the last interval.
	FsyncInterval FsyncPolicy = "interval"
	// FsyncNone leaves writeback to the kernel (about 30 s on Linux). For
	// tests, tmpfs, and vehicles with a supercapacitor that flushes on
	// power loss. Close still fsyncs.
	FsyncNone FsyncPolicy = "none"
)

func (p FsyncPolicy) valid() bool {
	return p == FsyncBatch || p == FsyncInterval || p == FsyncNone
}

// UnmarshalYAML accepts batch, interval or none and names the line of
// anything else, so check-config can point at the mistake.
func (p *FsyncPolicy) UnmarshalYAML(n *yaml.Node) error {
	v := FsyncPolicy(n.Value)
	if n.Kind != yaml.ScalarNode || !v.valid() {
		return fmt.Errorf("line %d: fsync %q: want batch, interval or none", n.Line, n.Value)
	}
	*p = v
	return nil
}

// withDefaults validates o, naming the field at fault, and fills the zero
// fields.
func (o Options) withDefaults() (Options, error) {
	bad := func(field, format string, args ...any) (Options, error) {
		return Options{}, fmt.Errorf("spool options: %s: %s", field, fmt.Sprintf(format, args...))
	}
	if o.Dir == "" {
		return bad("dir", "required")
	}
	if o.MaxBytes < 0 {
		return bad("max_bytes", "%d is negative", o.MaxBytes)
	}
	if o.MaxBytes == 0 {
		o.MaxBytes = DefaultMaxBytes
	}
	if o.SegmentBytes < 0 {
		return bad("segment_bytes", "%d is negative", o.SegmentBytes)
	}
	if o.SegmentBytes == 0 {
		o.SegmentBytes = min(DefaultSegmentBytes, o.MaxBytes)
	}
	switch {
	case o.SegmentBytes < minSegmentBytes:
		return bad("segment_bytes", "%s is under the minimum of %s", o.SegmentBytes, Size(minSegmentBytes))
	case o.SegmentBytes > o.MaxBytes:
		return bad("segment_bytes", "%s exceeds max_bytes %s", o.SegmentBytes, o.MaxBytes)
	case o.MaxBytes/o.SegmentBytes > MaxSegments:
		return bad("segment_bytes", "%s makes more than %d segments of max_bytes %s (one open file each)",
			o.SegmentBytes, MaxSegments, o.MaxBytes)
	}
	if o.Fsync == "" {
		o.Fsync = FsyncBatch
	}
	if !o.Fsync.valid() {
		return bad("fsync", "%q: want batch, interval or none", o.Fsync)
	}
	switch {
	case o.FsyncInterval < 0:
		return bad("fsync_interval", "%s is negative", o.FsyncInterval)
	case o.FsyncInterval != 0 && o.Fsync != FsyncInterval:
		return bad("fsync_interval", "set, but fsync is %q (only interval uses it)", o.Fsync)
	case o.FsyncInterval == 0 && o.Fsync == FsyncInterval:
		o.FsyncInterval = Duration(DefaultFsyncInterval)
	}
	if o.QuarantineBytes < 0 {
		return bad("quarantine_max_bytes", "%d is negative", o.QuarantineBytes)
	}
	if o.QuarantineBytes == 0 {
		o.QuarantineBytes = DefaultQuarantineBytes
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o, nil
}

// Size is a byte count. In YAML and on the command line it is a whole number
// of bytes with an optional unit: 1048576, 512KiB, 256MiB, 1GiB, 100MB.
// KiB, MiB, GiB (and K, M, G) are powers of 1024; KB, MB, GB powers of 1000.
type Size int64

var sizeUnits = []struct {
	suffix string
	mult   int64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30},
	{"KB", 1000}, {"MB", 1000 * 1000}, {"GB", 1000 * 1000 * 1000},
	{"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}, {"B", 1},
}

// ParseSize parses a Size as described there.
func ParseSize(v string) (Size, error) {
	t := strings.TrimSpace(v)
	mult := int64(1)
	for _, u := range sizeUnits {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n < 0 || n > (1<<62)/mult {
		return 0, fmt.Errorf("size %q: want a whole number of bytes with an optional unit (KiB, MiB, GiB, KB, MB, GB)", v)
	}
	return Size(n * mult), nil
}

// String gives the largest binary unit that divides s exactly: "256MiB",
// "1500". ParseSize reads it back.
func (s Size) String() string {
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if s != 0 && int64(s)%u.mult == 0 {
			return strconv.FormatInt(int64(s)/u.mult, 10) + u.suffix
		}
	}
	return strconv.FormatInt(int64(s), 10)
}

// Set implements pflag.Value, so a command can take a Size as a flag.
func (s *Size) Set(v string) error {
	n, err := ParseSize(v)
	if err != nil {
		return err
	}
	*s = n
	return nil
}

// Type implements pflag.Value.
func (s *Size) Type() string { return "size" }

// UnmarshalYAML accepts an integer or a string with a unit, and names the
// line of a bad value.
func (s *Size) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: want a size such as 256MiB", n.Line)
	}
	v, err := ParseSize(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*s = v
	return nil
}

// MarshalYAML writes the form String gives.
func (s Size) MarshalYAML() (any, error) { return s.String(), nil }

// Duration is a time.Duration written as Go writes durations: "1s",
// "250ms", "1m30s". A bare number is refused in YAML: "1" could mean
// seconds or nanoseconds.
type Duration time.Duration

// String is time.Duration's form.
func (d Duration) String() string { return time.Duration(d).String() }

// Set implements pflag.Value.
func (d *Duration) Set(v string) error {
	t, err := time.ParseDuration(strings.TrimSpace(v))
	if err != nil {
		return fmt.Errorf("duration %q: want a number with a unit such as 1s or 250ms", v)
	}
	*d = Duration(t)
	return nil
}

// Type implements pflag.Value.
func (d *Duration) Type() string { return "duration" }

// UnmarshalYAML parses a duration string and names the line of a bad value.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: want a duration such as 1s", n.Line)
	}
	if err := d.Set(n.Value); err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	return nil
}

// MarshalYAML writes the form String gives.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }
