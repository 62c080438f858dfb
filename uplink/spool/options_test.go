package spool

import (
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

func TestOptionsDefaults(t *testing.T) {
	o, err := Options{Dir: "d"}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if o.MaxBytes != DefaultMaxBytes || o.SegmentBytes != DefaultSegmentBytes || o.Fsync != FsyncBatch ||
		o.FsyncInterval != 0 || o.QuarantineBytes != DefaultQuarantineBytes || o.Logger == nil {
		t.Errorf("defaults: %+v", o)
	}
	o, err = Options{Dir: "d", Fsync: FsyncInterval}.withDefaults()
	if err != nil || o.FsyncInterval != DefaultFsyncInterval {
		t.Errorf("interval default: %v %v", o.FsyncInterval, err)
	}
	o, err = Options{Dir: "d", MaxBytes: 1 << 20}.withDefaults()
	if err != nil || o.SegmentBytes != 1<<20 {
		t.Errorf("a budget under the default segment size makes one segment of it: %v %v", o.SegmentBytes, err)
	}
}

func TestOptionsErrors(t *testing.T) {
	tests := []struct {
		name  string
		opts  Options
		field string
	}{
		{"no dir", Options{}, "dir"},
		{"negative budget", Options{Dir: "d", MaxBytes: -1}, "max_bytes"},
		{"negative segment", Options{Dir: "d", SegmentBytes: -1}, "segment_bytes"},
		{"tiny segment", Options{Dir: "d", SegmentBytes: 100}, "segment_bytes"},
		{"segment over budget", Options{Dir: "d", MaxBytes: 1 << 20, SegmentBytes: 2 << 20}, "segment_bytes"},
		{"too many segments", Options{Dir: "d", SegmentBytes: 64 << 10}, "segment_bytes"},
		{"unknown policy", Options{Dir: "d", Fsync: "always"}, "fsync"},
		{"interval without its policy", Options{Dir: "d", FsyncInterval: time.Second}, "fsync_interval"},
		{"negative interval", Options{Dir: "d", Fsync: FsyncInterval, FsyncInterval: -1}, "fsync_interval"},
		{"negative quarantine", Options{Dir: "d", QuarantineBytes: -5}, "quarantine_max_bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.opts.withDefaults()
			if err == nil || !strings.HasPrefix(err.Error(), "spool options: "+tt.field+": ") {
				t.Errorf("error %v, want one naming %s", err, tt.field)
			}
			if _, err := Open(tt.opts); err == nil {
				t.Error("Open accepted it")
			}
		})
	}
}

func TestOptionsYAML(t *testing.T) {
	const doc = `
dir: /var/lib/kanal/spool
max_bytes: 64MiB
segment_bytes: 1048576
fsync: interval
fsync_interval: 250ms
quarantine_max_bytes: 1GB
`
	var o Options
	if err := yaml.Unmarshal([]byte(doc), &o); err != nil {
		t.Fatal(err)
	}
	want := Options{Dir: "/var/lib/kanal/spool", MaxBytes: 64 << 20, SegmentBytes: 1 << 20, Fsync: FsyncInterval,
		FsyncInterval: 250 * time.Millisecond, QuarantineBytes: 1000 * 1000 * 1000}
	if o != want {
		t.Errorf("got %+v\nwant %+v", o, want)
	}
	out, err := yaml.Marshal(o)
	if err != nil {
		t.Fatal(err)
	}
	var back Options
	if err := yaml.Unmarshal(out, &back); err != nil || back != o {
		t.Errorf("round trip through\n%s gave %+v, %v", out, back, err)
	}

	for _, bad := range []struct{ doc, want string }{
		{"dir: x\nfsync: sometimes\n", "line 2: fsync \"sometimes\""},
		{"dir: x\n\nmax_bytes: 12 parsecs\n", "line 3: size \"12 parsecs\""},
		{"fsync_interval: 5\n", "line 1: cannot unmarshal !!int `5` into time.Duration"},
		{"max_bytes: [1]\n", "line 1: want a size"},
	} {
		var o Options
		if err := yaml.Unmarshal([]byte(bad.doc), &o); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%q: error %v, want %q", bad.doc, err, bad.want)
		}
	}
}
