package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kanal-dev/kanal/catalog"
	"github.com/kanal-dev/kanal/internal/cli"
)

func runAgent(t *testing.T, args ...string) (string, int) {
	t.Helper()
	root := newRootCmd()
	var out, errb bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errb)
	root.SetArgs(args)
	code := cli.Execute(context.Background(), root)
	return out.String(), code
}

func TestDecodeJSONL(t *testing.T) {
	log := filepath.Join(t.TempDir(), "drive.log")
	text := "(1732221946.679678) can0 100#0102030405060708\n" +
		"(1732221946.679679) can1 104#0104090800000000\n" +
		"(1732221946.679680) can0 0CF004FE#FFFFFFFFFFFFFFFF\n" +
		"(1732221946.679681) can0 7FF#00\n" +
		"(1732221946.679682) can0 100#01\n"
	if err := os.WriteFile(log, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	out, code := runAgent(t, "decode", "--dbc", "../../dbc/testdata/layout.dbc", log)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, out)
	}
	want := `{"t":1732221946.679678,"bus":"can0","id":256,"msg":"Layout","signals":{"Intel16":513,"Moto16":772,"Moto12":1543,"Signed8":3}}
{"t":1732221946.679679,"bus":"can1","id":260,"msg":"Extended","signals":{"Top":1,"Sub":4,"Leaf3":9}}
{"t":1732221946.67968,"bus":"can0","id":217056510,"msg":"Ext29","signals":{"Counter":18446744073709551615}}
`
	want = strings.Replace(want, "1732221946.67968,", "1732221946.679680,", 1)
	if out != want {
		t.Errorf("got:\n%s\nwant:\n%s", out, want)
	}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var v map[string]any
		if err := json.Unmarshal([]byte(line), &v); err != nil {
			t.Errorf("not JSON: %s: %v", line, err)
		}
	}
	out, code = runAgent(t, "decode", "--bus", "can1=../../dbc/testdata/layout.dbc", "-o", "count", log)
	if code != 0 || !strings.Contains(out, "decoded       1\n") || !strings.Contains(out, "frames        5\n") {
		t.Errorf("count (exit %d):\n%s", code, out)
	}
}

func TestDbcLintExitCode(t *testing.T) {
	out, code := runAgent(t, "dbc", "lint", "../../dbc/testdata/lint.dbc")
	if code != 1 || !strings.Contains(out, "lint.dbc:12: signal Overlap.Outside") {
		t.Errorf("exit %d:\n%s", code, out)
	}
	// signals of different multiplexer branches may share bits
	out, _ = runAgent(t, "dbc", "lint", "../../dbc/testdata/layout.dbc")
	if out != "../../dbc/testdata/layout.dbc:28: signal FD64.TailMoto overlaps Tail (line 27)\n" {
		t.Errorf("layout.dbc:\n%s", out)
	}
	clean := filepath.Join(t.TempDir(), "clean.dbc")
	os.WriteFile(clean, []byte("BO_ 1 M: 8 X\n SG_ A : 0|8@1+ (1,0) [0|0] \"\" X\n"), 0o644)
	if out, code := runAgent(t, "dbc", "lint", clean); code != 0 || out != "" {
		t.Errorf("clean file: exit %d: %s", code, out)
	}
}

// TestDecodeNormalized decodes the warning drive through the demo mapping
// and follows the ABS lamp: off, then on at t+75 s, never off again.
func TestDecodeNormalized(t *testing.T) {
	const dbcFile, mapFile = "../../testdata/candumps/kanal_demo.dbc", "../../testdata/candumps/kanal_demo.mapping.yaml"
	out, code := runAgent(t, "decode", "--dbc", dbcFile, "--mapping", mapFile, "--normalized",
		"../../testdata/candumps/drive_warning.log")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	const abs = "Vehicle.Kanal.Warning.ABS.IsOn"
	var start, onAt float64
	var lines, absSeen int
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var rec struct {
			T       float64            `json:"t"`
			Bus     string             `json:"bus"`
			Msg     string             `json:"msg"`
			Signals map[string]float64 `json:"signals"`
			IDs     map[string]uint32  `json:"ids"`
		}
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("not JSON: %s: %v", line, err)
		}
		lines++
		if start == 0 {
			start = rec.T
		}
		if len(rec.Signals) == 0 || len(rec.Signals) != len(rec.IDs) {
			t.Fatalf("signals and ids differ: %s", line)
		}
		for path, id := range rec.IDs {
			e, ok := catalog.Default().ByPath(path)
			if !ok || e.ID != id {
				t.Fatalf("%s: id %d, catalog says %v", path, id, e)
			}
		}
		v, ok := rec.Signals[abs]
		if !ok {
			continue
		}
		absSeen++
		switch {
		case v == 1 && onAt == 0:
			onAt = rec.T - start
		case v == 0 && onAt != 0:
			t.Fatalf("ABS lamp off again at t+%.1fs", rec.T-start)
		case v != 0 && v != 1:
			t.Fatalf("ABS lamp %v", v)
		}
	}
	if absSeen < 100 || onAt < 74 || onAt > 76 {
		t.Errorf("ABS lamp seen %d times, on at t+%.2fs; want on at t+75s", absSeen, onAt)
	}

	// The count names how many values the mapping normalized.
	out, code = runAgent(t, "decode", "--dbc", dbcFile, "--mapping", mapFile, "-o", "count",
		"../../testdata/candumps/drive_warning.log")
	if code != 0 || !strings.Contains(out, "normalized    ") {
		t.Errorf("count (exit %d):\n%s", code, out)
	}
	// Without --normalized the mapping is checked, the output unchanged.
	plain, _ := runAgent(t, "decode", "--dbc", dbcFile, "../../testdata/candumps/drive_warning.log")
	mapped, _ := runAgent(t, "decode", "--dbc", dbcFile, "--mapping", mapFile, "../../testdata/candumps/drive_warning.log")
	if plain != mapped || len(plain) == 0 {
		t.Errorf("--mapping without --normalized changed the output")
	}
}

func TestDecodeMappingErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("version: 1\nsignals:\n  - path: Vehicle.Speed\n    dbc: {message: VDC_Speed, signal: NoSuchSignal}\n  - path: Vehicle.Nope\n    dbc: {message: VDC_Speed, signal: VehicleSpeed}\n"), 0o644)
	log := "../../testdata/candumps/drive_warning.log"
	_, code := runAgent(t, "decode", "--dbc", "../../testdata/candumps/kanal_demo.dbc", "--mapping", bad, log)
	if code == 0 {
		t.Fatal("bad mapping accepted")
	}
	err := decodeErr(t, "--dbc", "../../testdata/candumps/kanal_demo.dbc", "--mapping", bad, log)
	for _, want := range []string{bad + ":4:", "NoSuchSignal", bad + ":5:", "Vehicle.Nope"} {
		if !strings.Contains(err, want) {
			t.Errorf("error does not name %q:\n%s", want, err)
		}
	}
	if err := decodeErr(t, "--dbc", "x.dbc", "--normalized", log); !strings.Contains(err, "--normalized needs --mapping") {
		t.Errorf("--normalized without --mapping: %s", err)
	}
}

// decodeErr runs decode and returns its error text.
func decodeErr(t *testing.T, args ...string) string {
	t.Helper()
	cmd := newRootCmd()
	cmd.SetOut(new(bytes.Buffer))
	cmd.SetErr(new(bytes.Buffer))
	cmd.SetArgs(append([]string{"decode"}, args...))
	err := cmd.ExecuteContext(context.Background())
	if err == nil {
		t.Fatalf("decode %v: no error", args)
	}
	return err.Error()
}

// TestDecodeChanges follows the front fog light of the fog drive with
// --changes and --signals: off, on at t+60 s, off at t+120 s.
func TestDecodeChanges(t *testing.T) {
	out, code := runAgent(t, "decode", "--dbc", "../../testdata/candumps/kanal_demo.dbc",
		"--mapping", "../../testdata/candumps/kanal_demo.mapping.yaml", "--normalized",
		"--changes", "--signals", `^Vehicle\.Body\.Lights\.Fog\.Front\.IsOn$`,
		"../../testdata/candumps/drive_fog.log")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	var ts, vs []float64
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var rec struct {
			T       float64            `json:"t"`
			Signals map[string]float64 `json:"signals"`
		}
		if err := json.Unmarshal([]byte(line), &rec); err != nil || len(rec.Signals) != 1 {
			t.Fatalf("line %q: %v", line, err)
		}
		ts = append(ts, rec.T)
		vs = append(vs, rec.Signals["Vehicle.Body.Lights.Fog.Front.IsOn"])
	}
	if len(vs) != 3 || vs[0] != 0 || vs[1] != 1 || vs[2] != 0 ||
		math.Abs(ts[1]-ts[0]-60) > 0.1 || math.Abs(ts[2]-ts[0]-120) > 0.1 {
		t.Errorf("fog light changes: times %v values %v; want 0, 1 at +60s, 0 at +120s", ts, vs)
	}
	// DBC names work the same way; the counts do not depend on the filter.
	out, _ = runAgent(t, "decode", "--dbc", "../../testdata/candumps/kanal_demo.dbc",
		"--changes", "--signals", `^BCM_Lights\.FogLightRear$`, "-o", "table",
		"../../testdata/candumps/drive_fog.log")
	if n := strings.Count(out, "FogLightRear = "); n != 3 {
		t.Errorf("table shows %d rear fog values, want 3:\n%s", n, out)
	}
	if err := decodeErr(t, "--dbc", "x.dbc", "--signals", "(", "x.log"); !strings.Contains(err, "--signals") {
		t.Errorf("bad regexp: %s", err)
	}
}

// TestReadmeMapping loads the mapping example of README.md, so the
// documentation cannot drift from what the loader accepts.
func TestReadmeMapping(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if errors.Is(err, fs.ErrNotExist) && os.Getenv("KANAL_REQUIRE_VCAN") != "" {
		t.Skip("README.md is not in the VM's copy of the tree (testdata only)")
	}
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(readme), "```yaml\nversion: 1\n")
	example, _, ok2 := strings.Cut(rest, "```")
	if !ok || !ok2 {
		t.Fatal("README.md has no mapping example (```yaml block starting with version: 1)")
	}
	path := filepath.Join(t.TempDir(), "readme.mapping.yaml")
	os.WriteFile(path, []byte("version: 1\n"+example), 0o644)
	out, code := runAgent(t, "decode", "--dbc", "../../testdata/candumps/kanal_demo.dbc", "--mapping", path,
		"--normalized", "--changes", "--signals", "Wiping", "-o", "table", "../../testdata/candumps/drive_fog.log")
	if code != 0 || !strings.Contains(out, "Wiping.Mode = 4 (INTERVAL)") {
		t.Errorf("exit %d:\n%s", code, out)
	}
}

// TestDecodePaced replays a log straight into the decoder (--speed): the
// output is the same as decoding it at once.
func TestDecodePaced(t *testing.T) {
	args := []string{"decode", "--dbc", "../../testdata/candumps/kanal_demo.dbc", "--signals", "Warn", "../../testdata/candumps/drive_warning.log"}
	fast, code := runAgent(t, args...)
	if code != 0 || fast == "" {
		t.Fatalf("exit %d", code)
	}
	paced, code := runAgent(t, append(args, "--speed", "2000")...)
	if code != 0 || paced != fast {
		t.Errorf("paced output differs (exit %d): %d vs %d bytes", code, len(paced), len(fast))
	}
	if _, code := runAgent(t, append(args, "--speed", "-1")...); code != 2 {
		t.Errorf("--speed -1: exit %d, want 2", code)
	}
}
