package socketcan

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/kanal-dev/kanal/can"
)

// Recovery and write back-off bounds.
const (
	reopenMin  = 100 * time.Millisecond // first wait before reopening a downed bus
	reopenMax  = 2 * time.Second        // longest wait between reopen attempts
	noBufsMin  = 50 * time.Microsecond  // first wait after ENOBUFS
	noBufsMax  = 10 * time.Millisecond  // longest wait after ENOBUFS
	noBufsGive = 2 * time.Second        // Send gives up after ENOBUFS for this long
)

// aLongTimeAgo is a deadline in the past: setting it wakes a pending read.
var aLongTimeAgo = time.Unix(1, 0)

// Bus is one SocketCAN interface opened as a raw CAN socket. It implements
// can.Source and can.Sink. Next must be called by one goroutine at a time;
// Send may be called from others, concurrently with Next.
type Bus struct {
	name   string
	opts   Options
	log    *slog.Logger
	m      busMetrics
	st     counters
	closed chan struct{}

	mu       sync.Mutex
	sock     *sock // nil while the bus is down
	down     bool  // logged as down, not yet as up
	isClosed bool

	// Read state, owned by Next. The buffers live in the Bus so that a read
	// allocates nothing.
	rd struct {
		buf   [fdMTU]byte
		oob   [128]byte
		iov   unix.Iovec
		msg   unix.Msghdr
		n     int
		oobn  int
		flags int
		err   error
		ctx   context.Context
		sock  *sock
		stop  func() bool // unregisters the ctx watch armed while waiting
		fn    func(fd uintptr) bool
	}

	sendMu sync.Mutex
	wbuf   [fdMTU]byte
}

// sock is one open socket. A Bus replaces it when the interface comes back.
type sock struct {
	f     *os.File
	rc    syscall.RawConn
	drops uint32 // last SO_RXQ_OVFL value seen; the kernel counts per socket
}

// Open opens a raw CAN socket on opts.Interface, with FD frames, kernel
// receive timestamps and the drop counter enabled. It fails if the interface
// does not exist; an interface that exists but is down is waited for by Next.
func Open(ctx context.Context, opts Options) (*Bus, error) {
	if opts.Interface == "" {
		return nil, errors.New("open socketcan: options: interface is required")
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("open socketcan %s: %w", opts.Interface, err)
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Metrics == nil {
		opts.Metrics = NewMetrics(nil)
	}
	opts.Filters = slices.Clone(opts.Filters) // reopening uses them again
	b := &Bus{
		name:   opts.Interface,
		opts:   opts,
		log:    opts.Logger,
		m:      opts.Metrics.forBus(opts.Interface),
		closed: make(chan struct{}),
	}
	b.rd.fn = b.recv
	if len(opts.Filters) > MaxFilters {
		b.log.Info("can filters over the kernel limit, receiving every frame",
			"bus", b.name, "filters", len(opts.Filters), "max", MaxFilters)
	}
	s, _, err := b.open()
	if err != nil {
		return nil, fmt.Errorf("open socketcan %s: %w", b.name, err)
	}
	b.sock = s
	return b, nil
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

// Next returns the next frame, stamped with the kernel's receive time. While
// the interface is down or gone it waits and reopens (see the package doc);
// it returns only a frame, ctx's error, or can.ErrClosed after Close.
func (b *Bus) Next(ctx context.Context) (can.Timed, error) {
	for {
		s, err := b.current(ctx)
		if err != nil {
			return can.Timed{}, err
		}
		t, ok, err := b.read(ctx, s)
		switch {
		case err == nil && ok:
			return t, nil
		case err == nil:
			continue // a frame of a size Kanal does not read
		case b.closedNow():
			return can.Timed{}, fmt.Errorf("read socketcan %s: %w", b.name, can.ErrClosed)
		case ctx.Err() != nil:
			return can.Timed{}, ctx.Err()
		case isDown(err) || errors.Is(err, os.ErrClosed):
			// ErrClosed without Close: Send closed a socket whose device is gone.
			b.markDown(s, err)
		default:
			return can.Timed{}, fmt.Errorf("read socketcan %s: %w", b.name, err)
		}
	}
}

// isDown reports the errors of an interface that went down (ENETDOWN) or
// away (ENODEV on read, ENXIO on write).
func isDown(err error) bool {
	return errors.Is(err, unix.ENETDOWN) || errors.Is(err, unix.ENODEV) || errors.Is(err, unix.ENXIO)
}

func (b *Bus) closedNow() bool {
	select {
	case <-b.closed:
		return true
	default:
		return false
	}
}

// current returns the open socket, reopening it with back-off while the bus
// is down. Only ctx or Close end the wait.
func (b *Bus) current(ctx context.Context) (*sock, error) {
	wait := reopenMin
	for {
		s, err := b.reopen()
		if s != nil || errors.Is(err, can.ErrClosed) {
			if err != nil {
				err = fmt.Errorf("read socketcan %s: %w", b.name, err)
			}
			return s, err
		}
		b.log.Debug("can bus still down", "bus", b.name, "err", err)
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil, ctx.Err()
		case <-b.closed:
			timer.Stop()
			return nil, fmt.Errorf("read socketcan %s: %w", b.name, can.ErrClosed)
		case <-timer.C:
		}
		wait = min(2*wait, reopenMax)
	}
}

// reopen returns the current socket, or opens a new one if the bus is down
// and the interface is up again.
func (b *Bus) reopen() (*sock, error) {
	b.mu.Lock()
	s, closed := b.sock, b.isClosed
	b.mu.Unlock()
	switch {
	case closed:
		return nil, can.ErrClosed
	case s != nil:
		return s, nil
	}
	s, up, err := b.open()
	if err != nil {
		return nil, err
	}
	if !up {
		s.f.Close()
		return nil, unix.ENETDOWN
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case b.isClosed:
		s.f.Close()
		return nil, can.ErrClosed
	case b.sock != nil: // Send reopened it meanwhile
		s.f.Close()
		return b.sock, nil
	}
	b.sock = s
	if b.down {
		b.down = false
		b.log.Info("can bus up", "bus", b.name)
	}
	return s, nil
}

// markDown drops the socket s after it failed with a down error, once: the
// first caller logs and counts the outage.
func (b *Bus) markDown(s *sock, cause error) {
	b.mu.Lock()
	if b.sock == s {
		b.sock = nil
		s.f.Close()
	}
	first := !b.down && !b.isClosed
	if first {
		b.down = true
	}
	b.mu.Unlock()
	if first {
		b.m.busDown.Inc()
		b.st.down.Add(1)
		b.log.Warn("can bus down", "bus", b.name, "err", cause)
	}
}

// read reads one frame from s, waiting in Go's poller. It reports false for
// a datagram that is not a classic or FD frame.
func (b *Bus) read(ctx context.Context, s *sock) (can.Timed, bool, error) {
	rd := &b.rd
	rd.ctx, rd.sock = ctx, s
	defer func() { rd.ctx, rd.sock = nil, nil }() // keep no reference to ctx
	for {
		err := s.rc.Read(rd.fn)
		if rd.stop != nil {
			rd.stop()
			rd.stop = nil
		}
		if err == nil {
			err = rd.err
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			if ctx.Err() != nil {
				return can.Timed{}, false, ctx.Err()
			}
			// A watch of an earlier call fired late; clear it and read on.
			if err := s.f.SetReadDeadline(time.Time{}); err != nil {
				return can.Timed{}, false, err
			}
			continue
		}
		if err != nil {
			return can.Timed{}, false, err
		}
		return b.frame(s)
	}
}

// recv is the RawConn callback: one non-blocking recvmsg. It returns false
// to wait for the socket to become readable; before the first wait it arms
// a watch that ends the wait when ctx ends.
func (b *Bus) recv(fd uintptr) bool {
	rd := &b.rd
	rd.iov.Base = &rd.buf[0]
	rd.iov.SetLen(len(rd.buf))
	rd.msg = unix.Msghdr{Iov: &rd.iov, Control: &rd.oob[0]}
	rd.msg.SetIovlen(1)
	rd.msg.SetControllen(len(rd.oob))
	for {
		n, _, errno := unix.Syscall(unix.SYS_RECVMSG, fd, uintptr(unsafe.Pointer(&rd.msg)), 0)
		switch errno {
		case 0:
			rd.n, rd.oobn, rd.flags, rd.err = int(n), int(rd.msg.Controllen), int(rd.msg.Flags), nil
			return true
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			if rd.stop == nil && rd.ctx.Done() != nil {
				s := rd.sock
				rd.stop = context.AfterFunc(rd.ctx, func() { _ = s.f.SetReadDeadline(aLongTimeAgo) })
			}
			return false
		default:
			rd.err = errno
			return true
		}
	}
}

// frame converts the datagram in b.rd into a Timed and updates the counters.
func (b *Bus) frame(s *sock) (can.Timed, bool, error) {
	rd := &b.rd
	ts, drops, haveDrops := parseControl(rd.oob[:rd.oobn])
	if haveDrops {
		// The kernel's count is cumulative per socket and wraps at 2^32.
		if d := drops - s.drops; d > 0 {
			b.m.drops.Add(float64(d))
			b.st.dropped.Add(uint64(d))
		}
		s.drops = drops
	}
	if rd.flags&unix.MSG_TRUNC != 0 {
		return can.Timed{}, false, nil
	}
	f, ok := decodeFrame(rd.buf[:rd.n])
	if !ok {
		return can.Timed{}, false, nil
	}
	if ts.IsZero() {
		ts = time.Now()
	}
	ts = ts.UTC() // as LogReader returns them
	b.m.rx.Inc()
	b.st.received.Add(1)
	if f.IsError() {
		b.m.errFrames.Inc()
		b.st.errFrames.Add(1)
	}
	return can.Timed{Time: ts, Bus: b.name, Frame: f}, true, nil
}

// parseControl reads the receive timestamp and the drop counter from the
// control messages of a recvmsg, without allocating.
func parseControl(oob []byte) (ts time.Time, drops uint32, haveDrops bool) {
	hdrLen := unix.CmsgLen(0)
	for len(oob) >= hdrLen {
		var l int
		if unix.SizeofCmsghdr == 16 { // cmsg_len is a size_t
			l = int(hostOrder.Uint64(oob))
		} else {
			l = int(hostOrder.Uint32(oob))
		}
		off := unix.SizeofCmsghdr - 8
		level := int32(hostOrder.Uint32(oob[off:]))
		typ := int32(hostOrder.Uint32(oob[off+4:]))
		if l < hdrLen || l > len(oob) {
			return
		}
		data := oob[hdrLen:l]
		if level == unix.SOL_SOCKET {
			switch {
			case typ == unix.SO_TIMESTAMPNS_NEW && len(data) >= 16:
				ts = time.Unix(int64(hostOrder.Uint64(data)), int64(hostOrder.Uint64(data[8:])))
			case typ == unix.SO_TIMESTAMPNS_OLD && len(data) >= 16 && unsafe.Sizeof(uintptr(0)) == 8:
				ts = time.Unix(int64(hostOrder.Uint64(data)), int64(hostOrder.Uint64(data[8:])))
			case typ == unix.SO_TIMESTAMPNS_OLD && len(data) >= 8: // struct timespec of 32-bit longs
				ts = time.Unix(int64(int32(hostOrder.Uint32(data))), int64(int32(hostOrder.Uint32(data[4:]))))
			case typ == unix.SO_RXQ_OVFL && len(data) >= 4:
				drops, haveDrops = hostOrder.Uint32(data), true
			}
		}
		next := unix.CmsgSpace(l - hdrLen)
		if next > len(oob) {
			return
		}
		oob = oob[next:]
	}
	return
}

// Send writes t.Frame to the bus; t.Bus and t.Time are ignored. When the
// kernel queue is full (ENOBUFS: a writer faster than the bus) it backs off
// from 50µs up to 10ms between tries and gives up after 2s, so a bus that
// stopped transmitting (bus-off) surfaces as an error. While the interface
// is down it returns an error wrapping ErrBusDown.
func (b *Bus) Send(ctx context.Context, t can.Timed) error {
	b.sendMu.Lock()
	defer b.sendMu.Unlock()
	n, err := encodeFrame(&b.wbuf, t.Frame)
	if err != nil {
		return fmt.Errorf("send socketcan %s: %w", b.name, err)
	}
	wait := noBufsMin
	var giveUp time.Time
	for {
		s, err := b.reopen()
		if err != nil {
			if errors.Is(err, can.ErrClosed) {
				return fmt.Errorf("send socketcan %s: %w", b.name, err)
			}
			return fmt.Errorf("send socketcan %s: %w: %w", b.name, ErrBusDown, err)
		}
		err = b.write(ctx, s, b.wbuf[:n])
		switch {
		case err == nil:
			b.m.tx.Inc()
			b.st.sent.Add(1)
			return nil
		case b.closedNow():
			return fmt.Errorf("send socketcan %s: %w", b.name, can.ErrClosed)
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.Is(err, unix.ENOBUFS):
			now := time.Now()
			if giveUp.IsZero() {
				giveUp = now.Add(noBufsGive)
			} else if now.After(giveUp) {
				return fmt.Errorf("send socketcan %s: queue full for %v: %w", b.name, noBufsGive, err)
			}
			if err := sleep(ctx, wait); err != nil {
				return err
			}
			wait = min(2*wait, noBufsMax)
		case t.Frame.IsFD() && errors.Is(err, unix.EINVAL):
			if mtu, merr := interfaceMTU(b.name); merr == nil && mtu != fdMTU {
				return fmt.Errorf("send socketcan %s: mtu %d: %w", b.name, mtu, ErrFDNotSupported)
			}
			return fmt.Errorf("send socketcan %s: %w", b.name, err)
		case errors.Is(err, unix.ENETDOWN):
			// The socket survives a down interface; Next handles recovery.
			return fmt.Errorf("send socketcan %s: %w: %w", b.name, ErrBusDown, err)
		case isDown(err) || errors.Is(err, os.ErrClosed):
			// The device is gone and the socket unbound: drop it, so that the
			// next Send (or Next) opens the interface again by name.
			b.markDown(s, err)
			return fmt.Errorf("send socketcan %s: %w: %w", b.name, ErrBusDown, err)
		default:
			return fmt.Errorf("send socketcan %s: %w", b.name, err)
		}
	}
}

// write writes one frame, waiting in Go's poller while the socket's send
// buffer is full (EAGAIN); ctx ends the wait through the write deadline.
func (b *Bus) write(ctx context.Context, s *sock, p []byte) error {
	for {
		var (
			werr error
			stop func() bool
		)
		err := s.rc.Write(func(fd uintptr) bool {
			for {
				_, werr = unix.Write(int(fd), p)
				switch werr {
				case unix.EINTR:
					continue
				case unix.EAGAIN:
					if stop == nil && ctx.Done() != nil {
						stop = context.AfterFunc(ctx, func() { _ = s.f.SetWriteDeadline(aLongTimeAgo) })
					}
					return false
				}
				return true
			}
		})
		if stop != nil {
			stop()
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			// A watch of an earlier call fired late; clear it and write again.
			if err := s.f.SetWriteDeadline(time.Time{}); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return err
		}
		return werr
	}
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
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

// Name returns the interface name the bus was opened on.
func (b *Bus) Name() string { return b.name }

// Stats returns the bus's counts since Open. It is safe to call at any time.
func (b *Bus) Stats() Stats { return b.st.load() }

// Close closes the socket. A pending Next returns can.ErrClosed, and so do
// later calls.
func (b *Bus) Close() error {
	b.mu.Lock()
	if b.isClosed {
		b.mu.Unlock()
		return nil
	}
	b.isClosed = true
	close(b.closed)
	s := b.sock
	b.sock = nil
	b.mu.Unlock()
	if s == nil {
		return nil
	}
	if err := s.f.Close(); err != nil {
		return fmt.Errorf("close socketcan %s: %w", b.name, err)
	}
	return nil
}
