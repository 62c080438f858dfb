package fleet

import (
	"os"
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestCompareWithTheGateway compares a truth with the alerts the real
// gateway raised for the same run (40 vehicles, 3 minutes, testdata):
// every episode is there, 8 of 10 with the very same id; a fog episode
// the gateway raised 0.44 s later (the completing report waited in its
// batch) and a breakdown 0.15 s later (sampled speeds).
func TestCompareWithTheGateway(t *testing.T) {
	tr, err := ReadTruth("testdata/gateway_truth.json")
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open("testdata/gateway_alerts.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	seen, err := ReadSeen(f)
	if err != nil {
		t.Fatal(err)
	}
	c, err := tr.Compare(seen, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if !c.OK() || len(c.Matched) != 10 || c.Exact != 8 {
		var b strings.Builder
		c.WriteText(&b)
		t.Fatalf("comparison:\n%s", b.String())
	}
	if got := c.Matched["fog:479ddf64:1796174334162032000"]; got != "fog:479ddf64:1796174334598202000" {
		t.Fatalf("fog 479ddf64 matched %q", got)
	}
	// too tight a tolerance misses the two late ones
	c, err = tr.Compare(seen, 100*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Missing) != 2 || len(c.Unexpected) != 2 || c.OK() {
		t.Fatalf("at 100 ms: missing %v, unexpected %v", c.Missing, c.Unexpected)
	}
}

func TestCompare(t *testing.T) {
	cleared := DefaultStart
	tr := &Truth{
		Fog:        []FogAlert{{ID: "fog:aa:1000000000", Cleared: &cleared}, {ID: "fog:bb:5000000000"}},
		Warnings:   []WarningAlert{{ID: "warning:aa:ABS:2000000000"}},
		Breakdowns: []BreakdownAlert{{ID: "breakdown:cc:3000000000"}},
	}
	raised := func(id string) Seen { return Seen{ID: id, Kind: strings.Split(id, ":")[0], State: "raised"} }
	cleared2 := func(id string) Seen { s := raised(id); s.State = "cleared"; return s }
	for _, tc := range []struct {
		name                         string
		seen                         []Seen
		missing, unexpected, notClrd []string
	}{
		{"all", []Seen{raised("fog:aa:1000000000"), cleared2("fog:aa:1000000000"), raised("fog:bb:5500000000"),
			raised("warning:aa:ABS:2000000000"), raised("breakdown:cc:3000000001"), raised("notice:x:1")}, nil, nil, nil},
		{"not cleared", []Seen{raised("fog:aa:1000000000"), raised("fog:bb:5000000000"),
			raised("warning:aa:ABS:2000000000"), raised("breakdown:cc:3000000000")}, nil, nil, []string{"fog:aa:1000000000"}},
		{"wrong lamp, late, wrong cell", []Seen{raised("fog:aa:1000000000"), cleared2("fog:aa:1000000000"),
			raised("fog:bb:9000000000"), raised("warning:aa:ESC:2000000000"), raised("breakdown:cd:3000000000")},
			[]string{"breakdown:cc:3000000000", "fog:bb:5000000000", "warning:aa:ABS:2000000000"},
			[]string{"breakdown:cd:3000000000", "fog:bb:9000000000", "warning:aa:ESC:2000000000"}, nil},
		{"one system episode for two", []Seen{raised("fog:aa:1000000000"), cleared2("fog:aa:1000000000"),
			raised("fog:bb:5000000000"), raised("warning:aa:ABS:2000000000"), raised("breakdown:cc:3000000000"),
			raised("fog:bb:5100000000")}, nil, []string{"fog:bb:5100000000"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := tr.Compare(tc.seen, time.Second)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(c.Missing, tc.missing) || !reflect.DeepEqual(c.Unexpected, tc.unexpected) ||
				!reflect.DeepEqual(c.NotCleared, tc.notClrd) {
				t.Fatalf("missing %v, unexpected %v, not cleared %v", c.Missing, c.Unexpected, c.NotCleared)
			}
			if c.OK() != (tc.missing == nil && tc.unexpected == nil && tc.notClrd == nil) {
				t.Fatal("OK disagrees")
			}
		})
	}
	if _, err := tr.Compare([]Seen{{ID: "fog:x", Kind: "fog"}}, time.Second); err == nil {
		t.Fatal("a malformed id compared")
	}
	if _, err := tr.Compare([]Seen{{ID: "warning:x:y", Kind: "warning"}}, time.Second); err == nil {
		t.Fatal("a warning id without its lamp compared")
	}
}

func TestReadSeen(t *testing.T) {
	in := `{"schema":"kanal.alert.v1","id":"fog:a:1","kind":"fog","state":"raised","count":3}
{"alerts":[{"id":"warning:a:ABS:2","kind":"warning","state":"raised"},{"id":"fog:b:3","kind":"fog","state":"cleared"}]}
`
	got, err := ReadSeen(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := []Seen{{"fog:a:1", "fog", "raised"}, {"warning:a:ABS:2", "warning", "raised"}, {"fog:b:3", "fog", "cleared"}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v", got)
	}
	if _, err := ReadSeen(strings.NewReader(`{"id": 3}`)); err == nil || !strings.Contains(err.Error(), "value 1") {
		t.Fatalf("bad JSON: %v", err)
	}
}

// FuzzReadSeen: any input reads or fails with the value it stopped at, and
// whatever reads compares against a truth without a panic.
func FuzzReadSeen(f *testing.F) {
	for _, s := range []string{
		`{"id":"fog:a:1","kind":"fog","state":"raised"}`,
		`{"alerts":[{"id":"warning:a:ABS:2","kind":"warning"}]}`,
		`{"id":"breakdown:c:-5","kind":"breakdown","state":"cleared"}` + "\n" + `{"id":"fog::","kind":"fog"}`,
	} {
		f.Add([]byte(s))
	}
	if data, err := os.ReadFile("testdata/gateway_alerts.jsonl"); err == nil {
		f.Add(data)
	}
	tr := &Truth{Fog: []FogAlert{{ID: "fog:a:1"}}, Warnings: []WarningAlert{{ID: "warning:a:ABS:2"}}}
	f.Fuzz(func(t *testing.T, data []byte) {
		seen, err := ReadSeen(strings.NewReader(string(data)))
		if err != nil {
			if !strings.HasPrefix(err.Error(), "alerts: value ") {
				t.Fatalf("error %q", err)
			}
			return
		}
		c, err := tr.Compare(seen, time.Second)
		if err != nil {
			return
		}
		if len(c.Matched)+len(c.Missing) != 2 {
			t.Fatalf("%d matched and %d missing of 2", len(c.Matched), len(c.Missing))
		}
	})
}
