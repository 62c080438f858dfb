package broker

import (
	"net"
	"net/netip"
	"sync"
)

// addrLimiter counts the open connections of each remote IP address.
type addrLimiter struct {
	max    int // <= 0: no limit
	mu     sync.Mutex
	open   map[netip.Addr]int
	warned map[netip.Addr]bool // refused and logged since it was last under the limit
}

func newAddrLimiter(max int) *addrLimiter {
	return &addrLimiter{max: max, open: make(map[netip.Addr]int), warned: make(map[netip.Addr]bool)}
}

// acquire counts a new connection from addr. It returns ok false when the
// address is at its limit, and first true for the first such refusal since
// the address was last under it (to log once per episode).
func (a *addrLimiter) acquire(addr netip.Addr) (ok, first bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.max > 0 && a.open[addr] >= a.max {
		first = !a.warned[addr]
		a.warned[addr] = true
		return false, first
	}
	a.open[addr]++
	return true, false
}

func (a *addrLimiter) release(addr netip.Addr) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.open[addr]--; a.open[addr] <= 0 {
		delete(a.open, addr)
	}
	if a.open[addr] < a.max {
		delete(a.warned, addr)
	}
}

// addrOf returns the IP address of a connection's remote end.
func addrOf(c net.Conn) netip.Addr {
	if ap, err := netip.ParseAddrPort(c.RemoteAddr().String()); err == nil {
		return ap.Addr().Unmap()
	}
	return netip.Addr{}
}

// limitListener is a net.Listener that closes, at accept, connections from
// an address over its limit, and releases the count when a connection is
// closed.
type limitListener struct {
	net.Listener
	s *Server
}

func (l limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		addr := addrOf(c)
		ok, first := l.s.addrs.acquire(addr)
		if ok {
			return &countedConn{Conn: c, release: func() { l.s.addrs.release(addr) }}, nil
		}
		c.Close()
		l.s.m.disconnects.WithLabelValues("per_address_limit").Inc()
		if first {
			l.s.log.Warn("broker: connections refused: too many from one address",
				"remote", addr.String(), "limit", l.s.addrs.max)
		}
	}
}

// countedConn releases its address's count once, when closed.
type countedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *countedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

// CloseWrite half-closes a TCP connection (for lingering).
func (c *countedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}
