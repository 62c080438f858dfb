// Package mqttlisten closes mochi listeners cleanly: the clients of a
// listener without the deadlock in mochi's own way of doing it (Clients),
// and a plain TCP listener for tests and tools (TCP) that, unlike mochi's,
// waits for every connection it accepted when it closes.
//
// mochi (v2.7.9, the newest) closes a listener's clients through
// Clients.GetByListener, which takes the clients' read lock and then, for
// the capacity of its slice, takes it again in Clients.Len. A client that
// connects or disconnects in between asks for the write lock, the second
// read lock waits behind it, and the writer waits for the first: the
// broker's Close, and every connection after it, hangs for good
// (mochi-mqtt/server issue 488, open). That is a gateway that never
// finishes its SIGTERM, and it hung our tests until go test's timeout.
// mochi's TCP listener also hands connections accepted during Close to the
// server while Close waits for its clients (a WaitGroup reused while
// waited for: a race, at worst a panic).
package mqttlisten

import (
	"log/slog"
	"net"
	"sync"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"
)

// Clients returns the function that disconnects the clients of listener
// id with DISCONNECT 0x8B (server shutting down), as mochi's would: the
// CloseFn for a listener's Close to call in place of the one mochi passes.
func Clients(srv *mqtt.Server) listeners.CloseFn {
	return func(id string) {
		for _, cl := range srv.Clients.GetAll() { // one read lock, on a copy
			if cl.Net.Listener == id && !cl.Closed() {
				_ = srv.DisconnectClient(cl, packets.ErrServerShuttingDown)
			}
		}
	}
}

// TCP is a plain MQTT-over-TCP listener of srv. Close stops accepting,
// disconnects the logged-in clients through Clients, closes the
// connections still before their CONNECT, and returns once every
// connection it handed to mochi has ended.
type TCP struct {
	id, addr string
	srv      *mqtt.Server
	ln       net.Listener

	mu     sync.Mutex
	closed bool
	conns  map[net.Conn]struct{}
	wg     sync.WaitGroup
}

// NewTCP returns a listener for srv named id on addr ("127.0.0.1:0" picks
// a port); srv.AddListener opens it.
func NewTCP(srv *mqtt.Server, id, addr string) *TCP {
	return &TCP{id: id, addr: addr, srv: srv, conns: map[net.Conn]struct{}{}}
}

// ID implements listeners.Listener.
func (l *TCP) ID() string { return l.id }

// Protocol implements listeners.Listener.
func (l *TCP) Protocol() string { return "tcp" }

// Address is the address listened on, with the port picked for :0.
func (l *TCP) Address() string {
	if l.ln != nil {
		return l.ln.Addr().String()
	}
	return l.addr
}

// Init opens the socket, so that AddListener fails on an address in use.
func (l *TCP) Init(*slog.Logger) error {
	ln, err := net.Listen("tcp", l.addr)
	if err != nil {
		return err
	}
	l.ln = ln
	return nil
}

// Serve accepts connections until Close, each served in a goroutine of
// its own; mochi calls it in a goroutine.
func (l *TCP) Serve(establish listeners.EstablishFn) {
	for {
		c, err := l.ln.Accept()
		if err != nil {
			return // closed; a test's loopback listener has no other error to wait out
		}
		l.mu.Lock()
		if l.closed {
			l.mu.Unlock()
			c.Close()
			return
		}
		l.conns[c] = struct{}{}
		l.wg.Add(1)
		l.mu.Unlock()
		go func() {
			defer l.wg.Done()
			_ = establish(l.id, c) // mochi closes c when the client ends
			l.mu.Lock()
			delete(l.conns, c)
			l.mu.Unlock()
		}()
	}
}

// Close implements listeners.Listener, ignoring mochi's CloseFn for
// Clients(srv).
func (l *TCP) Close(listeners.CloseFn) {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return
	}
	l.closed = true
	l.mu.Unlock()
	if l.ln != nil {
		l.ln.Close()
	}
	Clients(l.srv)(l.id)
	l.mu.Lock()
	for c := range l.conns {
		c.Close()
	}
	l.mu.Unlock()
	l.wg.Wait()
}
