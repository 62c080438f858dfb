package dbc

import (
	"strings"
	"testing"
)

func TestLint(t *testing.T) {
	db, err := Load("testdata/lint.dbc")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range Lint(db) {
		got = append(got, p.String())
	}
	want := []string{
		"testdata/lint.dbc:11: signal Overlap.B overlaps A (line 10)",
		"testdata/lint.dbc:12: signal Overlap.Outside: bits 12..19 are outside the 2-byte message",
		"testdata/lint.dbc:13: signal Overlap.A already defined at line 10",
		"testdata/lint.dbc:13: signal Overlap.A overlaps B (line 11)",
		"testdata/lint.dbc:15: message SameID: id 0x64 already used by Overlap at line 9",
		"testdata/lint.dbc:19: signal SameID.Z overlaps X (line 17)",
		"testdata/lint.dbc:19: signal SameID.Z overlaps Y (line 18)",
		"testdata/lint.dbc:21: message name Overlap already used at line 9",
		"testdata/lint.dbc:22: signal Overlap.Orphan: indicator m3 without a multiplexer (M) or SG_MUL_VAL_; decoded in every frame",
		"testdata/lint.dbc:25: signal Cycle.P: its multiplexer chain is a cycle",
		"testdata/lint.dbc:26: signal Cycle.Q: its multiplexer chain is a cycle",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("lint:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if !HasErrors(Lint(db)) {
		t.Error("HasErrors false")
	}
}

// TestLintSharedDBCs runs lint over the real files: it must not panic, and
// files cantools calls overlapping must report overlaps.
func TestLintSharedDBCs(t *testing.T) {
	dbs := sharedDBCs(t)
	for _, name := range sortedNames(dbs) {
		ps := Lint(dbs[name])
		overlaps := 0
		for _, p := range ps {
			if strings.Contains(p.Msg, "overlaps") {
				overlaps++
			}
		}
		t.Logf("%s: %d problems, %d overlaps", name, len(ps), overlaps)
		if name == "vw_mqb.dbc" && overlaps == 0 {
			t.Errorf("%s: no overlap found; cantools' strict mode rejects it for one", name)
		}
	}
}
