package vcantest

import (
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// MTUs of a vcan link: classic CAN (CAN_MTU) and CAN FD (CANFD_MTU).
const (
	ClassicMTU = 16
	FDMTU      = 72
)

var seq atomic.Int32

// skip skips t, or fails it when RequireEnv is set.
func skip(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv(RequireEnv) == "1" {
		t.Fatalf("%s (%s=1)", msg, RequireEnv)
	}
	t.Skip(msg + "; run scripts/vmtest")
}

// Available skips t unless vcan links can be created here: root and AF_CAN.
func Available(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		skip(t, "vcan tests need root to create links")
	}
	fd, err := unix.Socket(unix.AF_CAN, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.CAN_RAW)
	if err != nil {
		skip(t, "this kernel has no AF_CAN raw sockets (can, can-raw modules): %v", err)
	}
	unix.Close(fd)
}

// New creates a vcan link with a fresh name, sets it up and deletes it when
// the test ends. fd sets the MTU to 72, which FD frames need. It skips the
// test where vcan is unavailable (see Available).
func New(t testing.TB, fd bool) string {
	t.Helper()
	Available(t)
	name := fmt.Sprintf("kvcan%d", seq.Add(1))
	if err := add(name, fd); err != nil {
		if errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.ENOENT) {
			skip(t, "create vcan link %s: vcan module unavailable: %v", name, err)
		}
		t.Fatalf("create vcan link %s: %v", name, err)
	}
	t.Cleanup(func() {
		if l, err := netlink.LinkByName(name); err == nil {
			_ = netlink.LinkDel(l)
		}
	})
	return name
}

func add(name string, fd bool) error {
	attrs := netlink.NewLinkAttrs()
	attrs.Name = name
	mtu := ClassicMTU
	if fd {
		mtu = FDMTU
	}
	attrs.MTU = mtu
	link := &netlink.GenericLink{LinkAttrs: attrs, LinkType: "vcan"}
	if err := netlink.LinkAdd(link); err != nil {
		return fmt.Errorf("add: %w", err)
	}
	// Some kernels ignore the MTU given at creation; set it again while down.
	if err := netlink.LinkSetMTU(link, mtu); err != nil {
		return fmt.Errorf("set mtu %d: %w", mtu, err)
	}
	if err := netlink.LinkSetUp(link); err != nil {
		return fmt.Errorf("set up: %w", err)
	}
	return nil
}

// Up sets the link up.
func Up(t testing.TB, name string) {
	t.Helper()
	l, err := netlink.LinkByName(name)
	if err == nil {
		err = netlink.LinkSetUp(l)
	}
	if err != nil {
		t.Fatalf("set %s up: %v", name, err)
	}
}

// Down sets the link down: readers get ENETDOWN.
func Down(t testing.TB, name string) {
	t.Helper()
	l, err := netlink.LinkByName(name)
	if err == nil {
		err = netlink.LinkSetDown(l)
	}
	if err != nil {
		t.Fatalf("set %s down: %v", name, err)
	}
}

// Delete removes the link: readers get ENODEV and their sockets are unbound.
func Delete(t testing.TB, name string) {
	t.Helper()
	l, err := netlink.LinkByName(name)
	if err == nil {
		err = netlink.LinkDel(l)
	}
	if err != nil {
		t.Fatalf("delete %s: %v", name, err)
	}
}

// Add creates the link name again (after Delete) and sets it up.
func Add(t testing.TB, name string, fd bool) {
	t.Helper()
	if err := add(name, fd); err != nil {
		t.Fatalf("create vcan link %s: %v", name, err)
	}
}
