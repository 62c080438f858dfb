package socketcan

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// The kernel counts the frames it drops for a socket whose receive buffer
// is full (sk_drops). It tells in two ways: SO_RXQ_OVFL attaches the count
// to each frame it delivers, as it was when the frame was queued, and
// SO_MEMINFO reports it now. Only the second sees drops after the last
// frame read, which is where a reader that fell behind at the end of a
// stream loses frames; candump -d sees those only if another frame comes.

// noteDrops records total, a cumulative drop count of s from either
// source, and counts the increase over the last one seen. The two sources
// arrive out of order (a frame read late carries an older count), so only a
// count ahead of the last one counts. The kernel's counter wraps at 2^32:
// ahead means a positive int32 difference.
func (b *Bus) noteDrops(s *sock, total uint32) {
	for {
		last := s.drops.Load()
		d := total - last
		if int32(d) <= 0 {
			return
		}
		if s.drops.CompareAndSwap(last, total) {
			b.m.drops.Add(float64(d))
			b.st.dropped.Add(uint64(d))
			return
		}
	}
}

// syncDrops asks the kernel for the drop count of s now. It does nothing on
// a closed socket or a kernel without SO_MEMINFO's drop field (before 4.13).
func (b *Bus) syncDrops(s *sock) {
	var (
		total uint32
		ok    bool
	)
	if err := s.rc.Control(func(fd uintptr) { total, ok = socketDrops(fd) }); err != nil || !ok {
		return
	}
	b.noteDrops(s, total)
}

// socketDrops reads SK_MEMINFO_DROPS with getsockopt(SO_MEMINFO).
// unix.GetsockoptString cuts binary values at the first zero byte, so the
// syscall is made here.
func socketDrops(fd uintptr) (uint32, bool) {
	var mem [unix.SK_MEMINFO_VARS]uint32
	size := uint32(unsafe.Sizeof(mem))
	_, _, errno := unix.Syscall6(unix.SYS_GETSOCKOPT, fd, unix.SOL_SOCKET, unix.SO_MEMINFO,
		uintptr(unsafe.Pointer(&mem)), uintptr(unsafe.Pointer(&size)), 0)
	if errno != 0 || size < (unix.SK_MEMINFO_DROPS+1)*4 {
		return 0, false
	}
	return mem[unix.SK_MEMINFO_DROPS], true
}
