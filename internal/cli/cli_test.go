package cli

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// testRoot builds a tree like the real ones: root → replay with a few flags.
func testRoot(t *testing.T, got *map[string]any) *cobra.Command {
	t.Helper()
	root := NewRoot(RootOptions{Use: "tool", EnvPrefix: "KANAL_TEST"})
	var (
		speed float64
		maps  []string
		loop  bool
	)
	replay := &cobra.Command{Use: "replay", RunE: func(cmd *cobra.Command, _ []string) error {
		*got = map[string]any{"speed": speed, "map": strings.Join(maps, ","), "loop": loop}
		return nil
	}}
	replay.Flags().Float64Var(&speed, "speed", 1, "")
	replay.Flags().StringArrayVar(&maps, "map", nil, "")
	replay.Flags().BoolVar(&loop, "loop", false, "")
	root.AddCommand(replay, NewVersionCmd())
	root.SetOut(&bytes.Buffer{})
	root.SetErr(&bytes.Buffer{})
	return root
}

func TestLayers(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "agent.yaml")
	os.WriteFile(cfg, []byte("speed: 3\nloop: true\nreplay:\n  speed: 5\n  map: [vcan0=can0, vcan1=can1]\n"), 0o644)
	for _, tc := range []struct {
		desc string
		env  map[string]string
		args []string
		want map[string]any
	}{
		{desc: "defaults", args: []string{"replay"}, want: map[string]any{"speed": 1.0, "map": "", "loop": false}},
		{desc: "config section wins over top level", args: []string{"--config", cfg, "replay"},
			want: map[string]any{"speed": 5.0, "map": "vcan0=can0,vcan1=can1", "loop": true}},
		{desc: "env wins over config", env: map[string]string{"KANAL_TEST_SPEED": "7", "KANAL_TEST_MAP": "a=b,c=d"},
			args: []string{"--config", cfg, "replay"}, want: map[string]any{"speed": 7.0, "map": "a=b,c=d", "loop": true}},
		{desc: "flag wins over env", env: map[string]string{"KANAL_TEST_SPEED": "7", "KANAL_TEST_CONFIG": cfg},
			args: []string{"replay", "--speed", "9"}, want: map[string]any{"speed": 9.0, "map": "vcan0=can0,vcan1=can1", "loop": true}},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			var got map[string]any
			root := testRoot(t, &got)
			root.SetArgs(tc.args)
			if code := Execute(context.Background(), root); code != 0 {
				t.Fatalf("exit %d: %s", code, root.ErrOrStderr())
			}
			for k, v := range tc.want {
				if got[k] != v {
					t.Errorf("%s = %v, want %v", k, got[k], v)
				}
			}
		})
	}
}

func TestConfigErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ desc, yaml, want string }{
		{"unknown key", "speed: 2\nsped: 3\n", "agent.yaml:2: unknown setting \"sped\""},
		{"unknown section", "replya:\n  speed: 2\n", "agent.yaml:1: \"replya\" is not a subcommand"},
		{"bad value", "replay:\n  speed: fast\n", "agent.yaml:2: speed"},
		{"not a mapping", "- a\n- b\n", "agent.yaml:1: config must be a mapping"},
		{"bad yaml", "speed: [\n", "agent.yaml"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			cfg := filepath.Join(dir, "agent.yaml")
			os.WriteFile(cfg, []byte(tc.yaml), 0o644)
			var got map[string]any
			root := testRoot(t, &got)
			root.SetArgs([]string{"--config", cfg, "replay"})
			if code := Execute(context.Background(), root); code != 1 {
				t.Fatalf("exit %d, want 1", code)
			}
			if msg := root.ErrOrStderr().(*bytes.Buffer).String(); !strings.Contains(msg, tc.want) {
				t.Fatalf("error %q does not contain %q", msg, tc.want)
			}
		})
	}
}

func TestExecuteCodes(t *testing.T) {
	var got map[string]any
	root := testRoot(t, &got)
	root.SetArgs([]string{"replay", "--speed", "x"})
	if code := Execute(context.Background(), root); code != 2 {
		t.Fatalf("bad flag: exit %d, want 2", code)
	}
	root = testRoot(t, &got)
	root.SetArgs([]string{"--log-level", "loud", "replay"})
	if code := Execute(context.Background(), root); code != 1 {
		t.Fatalf("bad log level: exit %d, want 1", code)
	}
	root = testRoot(t, &got)
	out := &bytes.Buffer{}
	root.SetOut(out)
	root.SetArgs([]string{"version"})
	if code := Execute(context.Background(), root); code != 0 || !strings.HasPrefix(out.String(), "tool ") {
		t.Fatalf("version: exit %d, %q", code, out)
	}
}

func TestSize(t *testing.T) {
	for in, want := range map[string]int64{"0": 0, "1024": 1024, "64MiB": 64 << 20, "1KB": 1000, "2 GiB": 2 << 30, "3M": 3 << 20} {
		var s Size
		if err := s.Set(in); err != nil || int64(s) != want {
			t.Errorf("Set(%q) = %d, %v; want %d", in, s, err, want)
		}
	}
	for _, in := range []string{"", "-1", "1.5MiB", "MiB", "1TB", "99999999999GiB"} {
		var s Size
		if err := s.Set(in); err == nil {
			t.Errorf("Set(%q): want error", in)
		}
	}
}

// FuzzConfig feeds config files to the loader and the layering: errors are
// fine, panics are not.
func FuzzConfig(f *testing.F) {
	f.Add("speed: 3\nloop: true\nreplay:\n  speed: 5\n  map: [vcan0=can0]\n")
	f.Add("replay: {map: [{a: b}]}\n")
	f.Add("log-level: [debug, info]\n")
	f.Fuzz(func(t *testing.T, text string) {
		c, err := parseConfig("fuzz.yaml", []byte(text))
		if err != nil {
			return
		}
		var got map[string]any
		root := testRoot(t, &got)
		replay, _, _ := root.Find([]string{"replay"})
		if c.check(replay) != nil {
			return
		}
		for _, name := range []string{"speed", "map", "loop", "log-level"} {
			c.lookup(replay, name)
		}
	})
}

// TestConfigCheckAllMistakes pins the whole report for a file with mistakes
// at several depths: every one, line only (no column), in file order.
func TestConfigCheckAllMistakes(t *testing.T) {
	text := "sped: 2\n" +
		"replay:\n" +
		"  speed: {x: 1}\n" +
		"  map: [a, [b], {c: d}]\n" +
		"  lop: true\n" +
		"  version: {}\n" +
		"replya:\n" +
		"  speed: 2\n" +
		"loop: [true, {a: b}]\n" +
		"x: &a 1\n" +
		"y: *a\n"
	c, err := parseConfig("agent.yaml", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	root := testRoot(t, &got)
	replay, _, _ := root.Find([]string{"replay"})
	err = c.check(replay)
	want := strings.Join([]string{
		`agent.yaml:1: unknown setting "sped" (no flag of that name under tool)`,
		`agent.yaml:3: "speed" is not a subcommand of tool replay`,
		`agent.yaml:4: map: list items must be plain values`,
		`agent.yaml:4: map: list items must be plain values`,
		`agent.yaml:5: unknown setting "lop" (no flag of that name under tool replay)`,
		`agent.yaml:6: "version" is not a subcommand of tool replay`,
		`agent.yaml:7: "replya" is not a subcommand of tool`,
		`agent.yaml:9: loop: list items must be plain values`,
		`agent.yaml:10: unknown setting "x" (no flag of that name under tool)`,
		`agent.yaml:11: unknown setting "y" (no flag of that name under tool)`,
		`agent.yaml:11: y: want a value or a list`,
	}, "\n")
	if err == nil || err.Error() != want {
		t.Fatalf("check:\n%v\nwant:\n%s", err, want)
	}
	if err := c.check(root); err == nil {
		t.Fatal("check from the root: want the same mistakes")
	}
}

func TestPrefixErrors(t *testing.T) {
	root := &cobra.Command{Use: "tool", SilenceErrors: true, SilenceUsage: true}
	sub := &cobra.Command{Use: "sub", RunE: func(*cobra.Command, []string) error { return errors.New("open x: no such file") }}
	use := &cobra.Command{Use: "use", RunE: func(*cobra.Command, []string) error { return Usagef("give a file") }}
	done := &cobra.Command{Use: "done", RunE: func(*cobra.Command, []string) error { return errors.New("done: already said") }}
	exit := &cobra.Command{Use: "exit", RunE: func(*cobra.Command, []string) error { return &ExitError{Code: 1} }}
	root.AddCommand(sub, use, done, exit)
	PrefixErrors(root)
	for _, tc := range []struct {
		args []string
		want string
		code int
	}{
		{[]string{"sub"}, "tool: sub: open x: no such file\n", 1},
		{[]string{"use"}, "tool: use: give a file\nRun 'tool --help' for usage.\n", 2},
		{[]string{"done"}, "tool: done: already said\n", 1},
		{[]string{"exit"}, "", 1},
	} {
		var errb bytes.Buffer
		root.SetErr(&errb)
		root.SetArgs(tc.args)
		if code := Execute(context.Background(), root); code != tc.code || errb.String() != tc.want {
			t.Errorf("%v: exit %d, %q; want %d, %q", tc.args, code, errb.String(), tc.code, tc.want)
		}
	}
}
