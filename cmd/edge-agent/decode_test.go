package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

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
