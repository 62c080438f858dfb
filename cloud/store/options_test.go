package store

import (
	"strings"
	"testing"
	"time"

	"github.com/kanal-dev/kanal/internal/bytesize"
	"gopkg.in/yaml.v3"
)

func TestOptionsDefaults(t *testing.T) {
	o, err := Options{}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if o.MaxAge != DefaultMaxAge || o.MaxBytes != DefaultMaxBytes || o.DeadMaxAge != DefaultDeadMaxAge ||
		o.DeadMaxBytes != DefaultDeadMaxBytes || o.Replicas != 1 || o.Storage != StorageFile ||
		o.DuplicateWindow != DefaultDuplicateWindow || o.PublishTimeout != DefaultPublishTimeout ||
		o.CacheSize != DefaultCacheSize || o.Logger == nil {
		t.Fatalf("defaults: %+v", o)
	}
}

func TestOptionsRefused(t *testing.T) {
	tests := []struct {
		name string
		o    Options
		want string
	}{
		{"negative age", Options{MaxAge: -time.Second}, "max_age -1s is negative"},
		{"negative dead bytes", Options{DeadMaxBytes: -1}, "dead_max_bytes -1 is negative"},
		{"negative timeout", Options{PublishTimeout: -1}, "publish_timeout"},
		{"replicas", Options{Replicas: 6}, "replicas 6"},
		{"storage", Options{Storage: "disk"}, `storage "disk"`},
		{"short window", Options{DuplicateWindow: time.Millisecond}, "duplicate_window 1ms"},
		{"window over age", Options{MaxAge: time.Minute}, "duplicate_window 2m0s is longer than max_age 1m0s"},
		{"cache", Options{CacheSize: -5}, "cache_size -5"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.o.withDefaults()
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "store: options: ") {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
			if _, err := New(nil, tc.o); err == nil {
				t.Fatal("New took them")
			}
		})
	}
}

// TestOptionsYAML: the yaml keys of the gateway's config file.
func TestOptionsYAML(t *testing.T) {
	var o Options
	err := yaml.Unmarshal([]byte("max_age: 48h\nmax_bytes: 2GiB\ndead_max_age: 24h\ndead_max_bytes: 64MiB\n"+
		"replicas: 3\nstorage: memory\nduplicate_window: 5m\npublish_timeout: 1500ms\ncache_size: 5000\n"), &o)
	if err != nil {
		t.Fatal(err)
	}
	want := Options{MaxAge: 48 * time.Hour, MaxBytes: 2 * bytesize.GiB, DeadMaxAge: 24 * time.Hour, DeadMaxBytes: 64 * bytesize.MiB,
		Replicas: 3, Storage: StorageMemory, DuplicateWindow: 5 * time.Minute, PublishTimeout: 1500 * time.Millisecond, CacheSize: 5000}
	if o != want {
		t.Fatalf("got %+v\nwant %+v", o, want)
	}
}
