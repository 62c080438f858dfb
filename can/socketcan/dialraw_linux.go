package socketcan

import (
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// sock is one open socket. A Bus replaces it when the interface comes back.
type sock struct {
	f     *os.File
	rc    syscall.RawConn
	drops atomic.Uint32 // the kernel's drop count last seen; it counts per socket

	// framed is the SO_RXQ_OVFL count of the last frame delivered from
	// this socket, so the next frame can say how many were dropped just
	// before it (can.Timed.Dropped). Only the reader touches it.
	framed uint32
}

// setDeadline sets the read or the write deadline of s.
func (s *sock) setDeadline(write bool, t time.Time) error {
	if write {
		return s.f.SetWriteDeadline(t)
	}
	return s.f.SetReadDeadline(t)
}

// open creates, configures and binds a socket. It also reports whether the
// interface is up: bind succeeds on a down interface, but reads fail.
func (b *Bus) open() (*sock, bool, error) {
	fd, err := unix.Socket(unix.AF_CAN, unix.SOCK_RAW|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, unix.CAN_RAW)
	if errors.Is(err, unix.EAFNOSUPPORT) {
		return nil, false, fmt.Errorf("socket: %w (this kernel has no SocketCAN: load it with modprobe can-raw, and vcan for virtual buses)", err)
	}
	if err != nil {
		return nil, false, fmt.Errorf("socket: %w", err)
	}
	up, err := b.setup(fd)
	if err != nil {
		unix.Close(fd)
		return nil, false, err
	}
	// The fd is non-blocking, so os.NewFile registers it with Go's poller:
	// reads park the goroutine instead of a thread, deadlines and Close
	// wake them.
	f := os.NewFile(uintptr(fd), "socketcan:"+b.name)
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, false, fmt.Errorf("syscall conn: %w", err)
	}
	return &sock{f: f, rc: rc}, up, nil
}

// setup sets the socket options of a Bus on fd and binds it to the
// interface.
func (b *Bus) setup(fd int) (up bool, err error) {
	ifr, err := unix.NewIfreq(b.name)
	if err != nil {
		return false, fmt.Errorf("interface name: %w", err)
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFINDEX, ifr); err != nil {
		return false, fmt.Errorf("interface index: %w", err)
	}
	index := int(ifr.Uint32())
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return false, fmt.Errorf("interface flags: %w", err)
	}
	up = ifr.Uint16()&unix.IFF_UP != 0

	// FD frames: without this the kernel drops FD frames for this socket.
	// Kernels before 3.6 lack it; classic frames still work there.
	if err := unix.SetsockoptInt(fd, unix.SOL_CAN_RAW, unix.CAN_RAW_FD_FRAMES, 1); err != nil {
		b.log.Warn("can fd frames unavailable", "bus", b.name, "err", err)
	}
	if n := len(b.opts.Filters); n > 0 && n <= MaxFilters {
		kf := make([]unix.CanFilter, n)
		for i, f := range b.opts.Filters {
			kf[i].Id, kf[i].Mask = f.kernelFilter()
		}
		if err := unix.SetsockoptCanRawFilter(fd, unix.SOL_CAN_RAW, unix.CAN_RAW_FILTER, kf); err != nil {
			return up, fmt.Errorf("set %d filters: %w", n, err)
		}
	}
	if b.opts.ErrorFrames {
		if err := unix.SetsockoptInt(fd, unix.SOL_CAN_RAW, unix.CAN_RAW_ERR_FILTER, unix.CAN_ERR_MASK); err != nil {
			return up, fmt.Errorf("enable error frames: %w", err)
		}
	}
	// SO_TIMESTAMPNS_NEW gives 64-bit seconds on 32-bit ARM too (Linux 5.1+);
	// the old option is the fallback for older kernels.
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TIMESTAMPNS_NEW, 1); err != nil {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TIMESTAMPNS_OLD, 1); err != nil {
			return up, fmt.Errorf("enable timestamps: %w", err)
		}
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RXQ_OVFL, 1); err != nil {
		return up, fmt.Errorf("enable drop counter: %w", err)
	}
	if n := b.opts.ReceiveBuffer; n > 0 {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, n); err != nil {
			if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, n); err != nil {
				return up, fmt.Errorf("receive buffer %d: %w", n, err)
			}
		}
	}
	if err := unix.Bind(fd, &unix.SockaddrCAN{Ifindex: index}); err != nil {
		return up, fmt.Errorf("bind: %w", err)
	}
	return up, nil
}

// interfaceMTU returns the MTU of a network interface: 16 classic CAN, 72 FD.
func interfaceMTU(name string) (int, error) {
	fd, err := unix.Socket(unix.AF_CAN, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.CAN_RAW)
	if err != nil {
		return 0, err
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return 0, err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFMTU, ifr); err != nil {
		return 0, err
	}
	return int(ifr.Uint32()), nil
}
