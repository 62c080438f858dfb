package bytesize

import (
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Size
		err  bool
	}{
		{"0", 0, false},
		{"1048576", MiB, false},
		{"512KiB", 512 * KiB, false},
		{" 64 MiB ", 64 * MiB, false},
		{"1GB", 1000 * 1000 * 1000, false},
		{"2G", 2 * GiB, false},
		{"10B", 10, false},
		{"-1", 0, true},
		{"1.5MiB", 0, true},
		{"MiB", 0, true},
		{"", 0, true},
		{"9999999999GiB", 0, true},
	} {
		got, err := Parse(tc.in)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("Parse(%q) = %d, %v; want %d, error %v", tc.in, got, err, tc.want, tc.err)
		}
	}
}

func TestStringRoundTrip(t *testing.T) {
	for _, s := range []Size{0, 1, 1000, KiB, 3 * KiB, MiB + 1, 256 * MiB, 4 * GiB} {
		back, err := Parse(s.String())
		if err != nil || back != s {
			t.Errorf("%d -> %q -> %d, %v", s, s.String(), back, err)
		}
	}
}

func TestYAML(t *testing.T) {
	var cfg struct {
		Budget Size `yaml:"budget"`
		Raw    Size `yaml:"raw"`
	}
	if err := yaml.Unmarshal([]byte("budget: 256MiB\nraw: 4096\n"), &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.Budget != 256*MiB || cfg.Raw != 4096 {
		t.Fatalf("got %+v", cfg)
	}
	err := yaml.Unmarshal([]byte("budget: lots\n"), &cfg)
	if err == nil || !strings.Contains(err.Error(), "line 1") || !strings.Contains(err.Error(), `"lots"`) {
		t.Fatalf("bad size: %v", err)
	}
	out, err := yaml.Marshal(cfg)
	if err != nil || !strings.Contains(string(out), "budget: 256MiB") {
		t.Fatalf("marshal: %q %v", out, err)
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"0", "64MiB", "1GB", "12 K", "-3", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := Parse(s)
		if err != nil {
			return
		}
		if n < 0 {
			t.Fatalf("Parse(%q) = %d", s, n)
		}
		if back, err := Parse(n.String()); err != nil || back != n {
			t.Fatalf("%q -> %d -> %q -> %d, %v", s, n, n.String(), back, err)
		}
	})
}
