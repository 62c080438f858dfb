package vcantest

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// These tests prove that scripts/vmtest cannot hang CI where KVM does not
// work: scripts/vmtest-accel is run against fake qemu binaries that boot,
// hang or fail under KVM, and scripts/vmtest itself runs a real VM with a
// qemu that hangs whenever it is given KVM.

// busybox returns a busybox with cpio (the probe packs its initramfs with
// it), or skips.
func busybox(t *testing.T) string {
	t.Helper()
	for _, b := range []string{"/bin/busybox", "/usr/bin/busybox"} {
		if _, err := os.Stat(b); err == nil {
			return b
		}
	}
	t.Skip("no busybox (apt-get install busybox-static): the vmtest scripts need it")
	return ""
}

// fakeQemu writes an executable shell script that acts as qemu: it appends
// its arguments to calls, then runs kvm when given -machine accel=kvm and
// other otherwise.
func fakeQemu(t *testing.T, dir, name, kvm, other string) (path, calls string) {
	t.Helper()
	path = filepath.Join(dir, name)
	calls = filepath.Join(dir, name+".calls")
	script := "#!/bin/sh\necho \"$*\" >>'" + calls + "'\ncase \" $* \" in\n*' accel=kvm '*)\n" + kvm + "\n;;\n*)\n" + other + "\n;;\nesac\n"
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return path, calls
}

// Behaviours of a qemu under KVM, as shell.
const (
	kvmBoots = "echo 'SeaBIOS'; echo KANAL-VMTEST-PROBE-OK; echo 'reboot: Power down'; exit 0"
	kvmHangs = "echo 'Booting from ROM...'; exec sleep 1000" // what a broken nested KVM does: nothing
	kvmFails = "echo 'Could not access KVM kernel module: Permission denied' >&2; echo 'qemu-system-x86_64: failed to initialize kvm: Permission denied' >&2; exit 1"
	notUsed  = "echo 'fake qemu: TCG is not probed' >&2; exit 3"
)

func TestVmtestAccel(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("scripts/vmtest-accel is for Linux hosts")
	}
	bb := busybox(t)
	script, err := filepath.Abs("../../scripts/vmtest-accel")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(script); err != nil {
		t.Skipf("no scripts/vmtest-accel (%v): not a checkout, as inside the VM", err)
	}
	dir := t.TempDir()
	device := filepath.Join(dir, "kvm") // stands for a writable /dev/kvm
	if err := os.WriteFile(device, nil, 0o666); err != nil {
		t.Fatal(err)
	}
	kernel := filepath.Join(dir, "vmlinuz") // the fakes do not read it
	if err := os.WriteFile(kernel, []byte("kernel"), 0o644); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		desc   string
		kvm    string // the fake's behaviour under KVM
		env    []string
		want   string // stdout, up to a number of seconds
		fail   string // when not "", the script must exit 1 with this on stderr
		probes bool   // the fake must have been run, with KVM
	}{
		{desc: "KVM works", kvm: kvmBoots, want: "kvm KVM probe booted in ", probes: true},
		{desc: "KVM hangs", kvm: kvmHangs, env: []string{"KANAL_VMTEST_PROBE_TIMEOUT=2"},
			want: "tcg KVM probe printed nothing within 2s (a writable " + device + " that hangs", probes: true},
		{desc: "KVM fails", kvm: kvmFails, want: "tcg KVM probe failed (qemu status 1: qemu-system-x86_64: failed to initialize kvm: Permission denied)", probes: true},
		{desc: "no KVM device", kvm: kvmBoots, env: []string{"KANAL_VMTEST_KVM_DEVICE=" + filepath.Join(dir, "absent")},
			want: "tcg no " + filepath.Join(dir, "absent")},
		{desc: "TCG forced", kvm: kvmBoots, env: []string{"KANAL_VMTEST_ACCEL=tcg"}, want: "tcg KANAL_VMTEST_ACCEL=tcg"},
		{desc: "KVM forced and working", kvm: kvmBoots, env: []string{"KANAL_VMTEST_ACCEL=kvm"}, want: "kvm KVM probe booted in ", probes: true},
		{desc: "KVM forced but hanging", kvm: kvmHangs, env: []string{"KANAL_VMTEST_ACCEL=kvm", "KANAL_VMTEST_PROBE_TIMEOUT=1"},
			fail: "KANAL_VMTEST_ACCEL=kvm but KVM probe printed nothing within 1s", probes: true},
		{desc: "KVM forced, no device", kvm: kvmBoots, env: []string{"KANAL_VMTEST_ACCEL=kvm", "KANAL_VMTEST_KVM_DEVICE=/nonexistent/kvm"},
			fail: "KANAL_VMTEST_ACCEL=kvm but no /nonexistent/kvm"},
		{desc: "bad accelerator", kvm: kvmBoots, env: []string{"KANAL_VMTEST_ACCEL=hvf"}, fail: "must be auto, kvm or tcg"},
		{desc: "bad probe timeout", kvm: kvmBoots, env: []string{"KANAL_VMTEST_PROBE_TIMEOUT=soon"}, fail: "whole number of seconds"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			qemu, calls := fakeQemu(t, t.TempDir(), "qemu-system-x86_64", tc.kvm, notUsed)
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, script, qemu, kernel, bb)
			cmd.Env = append(os.Environ(), "KANAL_VMTEST_ACCEL=", "KANAL_VMTEST_PROBE_TIMEOUT=", "KANAL_VMTEST_KVM_DEVICE="+device)
			cmd.Env = append(cmd.Env, tc.env...)
			cmd.WaitDelay = 5 * time.Second // a leftover sleep must not hold the pipes open
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			if ctx.Err() != nil {
				t.Fatalf("vmtest-accel did not return within 60s: it hangs with this qemu")
			}
			var exit *exec.ExitError
			switch {
			case tc.fail != "":
				if !errors.As(err, &exit) || exit.ExitCode() != 1 || !strings.Contains(stderr.String(), tc.fail) || stdout.Len() != 0 {
					t.Errorf("err %v, stdout %q, stderr %q; want exit 1 saying %q", err, stdout.String(), stderr.String(), tc.fail)
				}
			case err != nil:
				t.Errorf("%v\nstderr: %s", err, stderr.String())
			case !strings.HasPrefix(stdout.String(), tc.want) || strings.Count(stdout.String(), "\n") != 1:
				t.Errorf("said %q, want one line starting %q", stdout.String(), tc.want)
			}
			args, _ := os.ReadFile(calls)
			switch {
			case tc.probes && !strings.Contains(string(args), "-machine accel=kvm -cpu host") || tc.probes && !strings.Contains(string(args), "-kernel "+kernel):
				t.Errorf("qemu called with %q, want a KVM boot of the kernel", args)
			case !tc.probes && len(args) > 0:
				t.Errorf("qemu called with %q, want no probe", args)
			}
		})
	}
}

// TestVmtestFallsBack runs scripts/vmtest for real with a qemu first on
// PATH that hangs when given KVM and is the real qemu otherwise, as on a
// machine whose /dev/kvm is writable but broken: the run falls back to TCG,
// says so, and passes.
func TestVmtestFallsBack(t *testing.T) {
	if runtime.GOOS != "linux" || runtime.GOARCH != "amd64" {
		t.Skip("the VM recipe is for linux/amd64 hosts")
	}
	if testing.Short() {
		t.Skip("boots a VM: skipped with -short")
	}
	script, err := filepath.Abs("../../scripts/vmtest")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(script); err != nil {
		t.Skipf("no scripts/vmtest (%v): not a checkout, as inside the VM", err)
	}
	real, err := exec.LookPath("qemu-system-x86_64")
	if err != nil {
		skipVM(t, "no qemu-system-x86_64 (apt-get install qemu-system-x86): the VM fallback is tested where the VM runs")
	}
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go toolchain to build the test binaries")
	}
	busybox(t)
	dir := t.TempDir()
	fakeQemu(t, dir, "qemu-system-x86_64", kvmHangs, `exec '`+real+`' "$@"`)
	device := filepath.Join(dir, "kvm")
	if err := os.WriteFile(device, nil, 0o666); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, script, "-run", "^TestFrameRoundTrip$", "./can/socketcan/")
	cmd.Dir = "../.."
	cmd.Env = append(os.Environ(), "PATH="+dir+string(os.PathListSeparator)+os.Getenv("PATH"),
		"KANAL_VMTEST_ACCEL=", "KANAL_VMTEST_QEMU=", "KANAL_VMTEST_QEMU_ARGS=", "KANAL_VMTEST_PROBE_TIMEOUT=3",
		"KANAL_VMTEST_KVM_DEVICE="+device, "KANAL_VMTEST_TIMEOUT=300", "KANAL_REQUIRE_CANUTILS=")
	cmd.WaitDelay = 10 * time.Second
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("vmtest did not end within 10 minutes:\n%s", out)
	}
	if strings.Contains(string(out), "SKIP: vmtest:") {
		skipVM(t, "vmtest skipped: "+strings.TrimSpace(string(out)))
	}
	if err != nil {
		t.Fatalf("vmtest: %v\n%s", err, out)
	}
	for _, want := range []string{
		"vmtest: accelerator tcg: KVM probe printed nothing within 3s",
		"--- PASS: TestFrameRoundTrip",
		"vmtest: ok   github.com/kanal-dev/kanal/can/socketcan",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

// skipVM skips t, or fails it when KANAL_REQUIRE_VM is 1, as scripts/vmtest
// does: CI installs what the VM needs and must not lose this test silently.
func skipVM(t *testing.T, msg string) {
	t.Helper()
	if os.Getenv("KANAL_REQUIRE_VM") == "1" {
		t.Fatalf("%s (KANAL_REQUIRE_VM=1)", msg)
	}
	t.Skip(msg)
}
