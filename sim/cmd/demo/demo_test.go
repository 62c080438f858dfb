package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/kanal-dev/kanal/internal/freeport"
)

// buildAll builds the binaries make demo builds into a temporary bin.
func buildAll(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go toolchain to build the binaries (as inside scripts/vmtest)")
	}
	bin := t.TempDir()
	for _, b := range []struct{ out, pkg string }{
		{"", "./cmd/..."}, {"kanal-fleet", "./sim/cmd/fleet"}, {"kanal-demo", "./sim/cmd/demo"},
	} {
		cmd := exec.Command("go", "build", "-o", filepath.Join(bin, b.out), b.pkg)
		cmd.Dir = "../../.."
		if b.out == "" {
			cmd.Args[3] = bin + "/"
		}
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", b.pkg, err, out)
		}
	}
	return bin
}

// lockedBuffer is an io.Writer for a child's output read while it runs.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func demoCmd(t *testing.T, bin string, args ...string) (*exec.Cmd, *lockedBuffer) {
	cmd := exec.Command("sh", append([]string{"scripts/demo"}, args...)...)
	cmd.Dir = "../../.."
	addrs, err := freeport.Addrs(2) // two distinct ones, unlike two picks of port 0
	if err != nil {
		t.Fatal(err)
	}
	cmd.Env = append(os.Environ(), "BIN="+bin, "KANAL_DEMO_HTTP="+addrs[0], "KANAL_DEMO_MQTT="+addrs[1])
	out := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	return cmd, out
}

// TestDemo runs `make demo`'s script with freshly built binaries and a
// shorter drive, and checks what a person would see: fog alerts rising and
// clearing, a warning, and the gateway's alerts agreeing with the
// simulator's truth. So the demo can never rot into a placeholder.
func TestDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("a minute and a half of real time: skipped with -short")
	}
	bin := buildAll(t)
	cmd, out := demoCmd(t, bin, "-duration", "70s", "-settle", "20s")
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("demo: %v\n%s", err, out)
		}
	case <-time.After(4 * time.Minute):
		cmd.Process.Kill()
		t.Fatalf("demo did not end within 4 minutes:\n%s", out)
	}
	text := out.String()
	for _, want := range []string{
		"The live page: http://", "#token=demo-ops:",
		"fog        raised", "fog        cleared", "warning    raised", "lamp ABS",
		"0 not acknowledged",
		"the system agrees with the truth",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("the demo's output lacks %q", want)
		}
	}
	for _, line := range strings.Split(text, "\n") {
		// the traffic service's lines: "2026-12-02 01:43:15  fog  raised ..."
		if len(line) > 20 && line[4] == '-' && line[13] == ':' && (strings.Contains(line, "raised") || strings.Contains(line, "cleared")) &&
			(strings.Contains(line, "sim-") || strings.Contains(line, "demo-0001")) {
			t.Errorf("the traffic service's view names a vehicle: %s", line)
		}
	}
	if t.Failed() {
		t.Logf("output:\n%s", text)
	}
}

// TestDemoInterrupt: Ctrl-C stops the demo and every process it started.
func TestDemoInterrupt(t *testing.T) {
	if testing.Short() {
		t.Skip("builds every binary: skipped with -short")
	}
	bin := buildAll(t)
	cmd, out := demoCmd(t, bin, "-duration", "5m")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(out.String(), "4. A simulated fleet") {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("the fleet did not start within 60s:\n%s", out)
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(3 * time.Second)
	syscall.Kill(-cmd.Process.Pid, syscall.SIGINT) // what a terminal's Ctrl-C does: the whole group
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		t.Fatalf("the demo did not stop within 60s of Ctrl-C:\n%s", out)
	}
	if !strings.Contains(out.String(), "demo: stopped") {
		t.Errorf("no clean stop:\n%s", out)
	}
	// nothing the demo started is left: no process runs a binary of bin
	if left := running(bin); len(left) > 0 {
		t.Errorf("still running after Ctrl-C: %v", left)
	}
}

// running lists the processes whose command line starts with a file in dir.
func running(dir string) []string {
	var out []string
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err == nil && bytes.HasPrefix(b, []byte(dir+"/")) {
			out = append(out, string(bytes.ReplaceAll(b, []byte{0}, []byte{' '})))
		}
	}
	return out
}
