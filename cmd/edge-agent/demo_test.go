package main

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestDemoScript runs scripts/demo, what `make demo` runs, with a freshly
// built edge-agent and checks that it shows the events of the bundled
// drives, so the demo can never turn into a placeholder.
func TestDemoScript(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary; skipped with -short")
	}
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("no sh")
	}
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go toolchain to build the binary (as inside scripts/vmtest)")
	}
	bin := t.TempDir()
	build := exec.Command("go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	cmd := exec.Command("sh", "../../scripts/demo")
	cmd.Env = append(os.Environ(), "BIN="+bin, "KANAL_DEMO_SPEED=0")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("demo: %v\n%s", err, out)
	}
	text := string(out)
	for _, want := range []string{
		"no problems: 15 messages",
		"Vehicle.Body.Lights.Fog.Front.IsOn = 1 (true)",
		"Vehicle.Body.Windshield.Front.Wiping.Mode = 4 (INTERVAL)",
		"2025-06-02 16:11:15.052740 can0 IC_Warnings\n    601    Vehicle.Kanal.Warning.ABS.IsOn = 1 (true)",
		`"Vehicle.CurrentLocation.Latitude":48.14`,
		"decoded       15661",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("demo output lacks %q", want)
		}
	}
	if strings.Contains(text, "level=ERROR") || strings.Contains(text, "level=WARN") {
		t.Errorf("demo logged warnings or errors:\n%s", text)
	}
	if t.Failed() {
		t.Logf("demo output:\n%s", text)
	}
}
