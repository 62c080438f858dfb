package vcantest

import (
	"os"
	"os/exec"
	"testing"
)

// CanUtilsEnv is the environment variable that makes a missing can-utils
// program a failure instead of a skip. scripts/vmtest copies the host's
// can-utils into the VM and passes this variable on, so CI, which installs
// them, cannot lose the side-by-side tests silently.
const CanUtilsEnv = "KANAL_REQUIRE_CANUTILS"

// Tool returns the path of a can-utils program (candump, canplayer,
// cansend, cangen). Without it the test is skipped, or fails when
// CanUtilsEnv is "1". Tests that run Kanal beside can-utils on a vcan link
// use it, after New.
func Tool(t testing.TB, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err == nil {
		return path
	}
	if os.Getenv(CanUtilsEnv) == "1" {
		t.Fatalf("can-utils %s not found: %v (%s=1)", name, err, CanUtilsEnv)
	}
	t.Skipf("can-utils %s not found (apt-get install can-utils; scripts/vmtest brings the host's into the VM)", name)
	return ""
}
