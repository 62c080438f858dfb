package spool

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"gopkg.in/yaml.v3"

	"github.com/kanal-dev/kanal/internal/bytesize"
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
	MaxBytes bytesize.Size `yaml:"max_bytes"`
	// SegmentBytes is the size at which the spool starts a new segment
	// file; 0 means DefaultSegmentBytes. Disk space comes back a segment at
	// a time (when all its batches are acked, or dropped by the budget), so
	// a smaller segment gives a finer budget and more files: each segment
	// keeps one file open, and MaxBytes/SegmentBytes may not exceed
	// MaxSegments.
	SegmentBytes bytesize.Size `yaml:"segment_bytes"`
	// Fsync says when appended batches reach stable storage; "" means
	// FsyncBatch. See FsyncPolicy.
	Fsync FsyncPolicy `yaml:"fsync"`
	// FsyncInterval is the longest time a batch waits for its fsync under
	// FsyncInterval; 0 means DefaultFsyncInterval. Only valid with that
	// policy.
	FsyncInterval time.Duration `yaml:"fsync_interval"`
	// QuarantineBytes bounds Dir/quarantine, which is outside MaxBytes; 0
	// means DefaultQuarantineBytes. Beyond it the oldest quarantined batches
	// are deleted, so an agent that builds only invalid batches cannot fill
	// the disk.
	QuarantineBytes bytesize.Size `yaml:"quarantine_max_bytes"`
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
		return bad("segment_bytes", "%s is under the minimum of %s", o.SegmentBytes, bytesize.Size(minSegmentBytes))
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
		o.FsyncInterval = DefaultFsyncInterval
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
