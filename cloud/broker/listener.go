package broker

import (
	"crypto/tls"
	"errors"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"github.com/mochi-mqtt/server/v2/listeners"

	"github.com/kanal-dev/kanal/internal/mqttlisten"
)

// listener is a mochi listener (TCP, TLS or WebSocket) written for the
// broker instead of mochi's own, for four reasons: mochi's TCP accept loop
// ends for good on the first accept error (EMFILE under a connection
// storm would stop the listener), it sets no deadline before CONNECT, it
// has no per-address limit, and its WebSocket listener does not say which
// port it got. Every goroutine it starts is waited for in Close.
type listener struct {
	s        *Server
	id       string
	addr     string
	tlsConf  *tls.Config // TLS over TCP, or wss
	ws       bool
	ln       net.Listener
	httpSrv  *http.Server
	upgrader websocket.Upgrader

	mu        sync.Mutex
	closed    bool
	establish listeners.EstablishFn
	conns     map[*conn]struct{}
	wg        sync.WaitGroup
}

func (s *Server) newListener(id, addr string, tlsConf *tls.Config, ws bool) *listener {
	return &listener{s: s, id: id, addr: addr, tlsConf: tlsConf, ws: ws, conns: make(map[*conn]struct{})}
}

// ID implements listeners.Listener.
func (l *listener) ID() string { return l.id }

// Address returns the address listened on (with the port picked for :0).
func (l *listener) Address() string {
	if l.ln != nil {
		return l.ln.Addr().String()
	}
	return l.addr
}

// Protocol implements listeners.Listener.
func (l *listener) Protocol() string {
	switch {
	case l.ws && l.tlsConf != nil:
		return "wss"
	case l.ws:
		return "ws"
	case l.tlsConf != nil:
		return "tls"
	}
	return "tcp"
}

// Init opens the socket, so that New fails on an address in use.
func (l *listener) Init(*slog.Logger) error {
	ln, err := net.Listen("tcp", l.addr)
	if err != nil {
		return err
	}
	l.ln = limitListener{Listener: ln, s: l.s}
	if l.ws {
		var hln net.Listener = l.ln
		if l.tlsConf != nil {
			hln = tls.NewListener(l.ln, l.tlsConf)
		}
		l.upgrader = websocket.Upgrader{
			Subprotocols: []string{"mqtt"},
			// Any origin: a page can only use credentials its user has.
			CheckOrigin: func(*http.Request) bool { return true },
		}
		l.httpSrv = &http.Server{
			Handler:           l,
			ReadHeaderTimeout: l.s.opts.ConnectTimeout,
			// TLS handshake failures are per connection: not for the log.
			ErrorLog: log.New(io.Discard, "", 0),
		}
		l.ln = hln
	}
	return nil
}

// Serve accepts connections until Close, each served in a goroutine of
// its own; mochi calls it in a goroutine.
func (l *listener) Serve(establish listeners.EstablishFn) {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return
	}
	l.establish = establish
	l.wg.Add(1)
	l.mu.Unlock()
	defer l.wg.Done()
	if l.ws {
		l.httpSrv.Serve(l.ln)
		return
	}
	backoff := time.Duration(0)
	for {
		raw, err := l.ln.Accept()
		if err != nil {
			if l.isClosed() || errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of files, or the like: wait and go on, as net/http does.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			if backoff == 5*time.Millisecond {
				l.s.log.Error("broker: accept failed: retrying", "listener", l.id, "error", err)
			}
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		if !l.add() {
			raw.Close()
			return
		}
		go func() {
			defer l.wg.Done()
			var c net.Conn = raw
			var tc *tls.Conn
			if l.tlsConf != nil {
				tc = tls.Server(raw, l.tlsConf)
				c = tc
			}
			l.run(l.s.newConn(l, c, raw, tc, nil))
		}()
	}
}

// ServeHTTP upgrades a WebSocket request and serves the MQTT connection in
// it.
func (l *listener) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !l.add() {
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
		return
	}
	defer l.wg.Done()
	ws, err := l.upgrader.Upgrade(w, r, nil)
	if err != nil {
		return // the upgrader answered
	}
	under := ws.UnderlyingConn()
	raw, tc := under, (*tls.Conn)(nil)
	if t, ok := under.(*tls.Conn); ok {
		raw, tc = t.NetConn(), t
	}
	l.run(l.s.newConn(l, &wsConn{Conn: under, ws: ws}, raw, tc, r.TLS))
}

// add counts a connection goroutine, or reports false after Close.
func (l *listener) add() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return false
	}
	l.wg.Add(1)
	return true
}

func (l *listener) isClosed() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.closed
}

// run serves one connection: CONNECT must arrive within ConnectTimeout
// (mochi replaces the deadline with the keep-alive's once it has read
// CONNECT), then mochi has it until the client goes.
func (l *listener) run(c *conn) {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		c.Conn.Close()
		return
	}
	l.conns[c] = struct{}{}
	establish := l.establish
	l.mu.Unlock()
	c.SetDeadline(time.Now().Add(l.s.opts.ConnectTimeout))
	establish(l.id, c) // its errors are the client's: counted in hooks, not logged per connection
	c.Close()
}

// goLinger starts the lingering close of c, or reports false after Close.
func (l *listener) goLinger(c *conn) bool {
	if !l.add() {
		return false
	}
	go func() {
		defer l.wg.Done()
		c.drain()
	}()
	return true
}

func (l *listener) untrack(c *conn) {
	l.mu.Lock()
	delete(l.conns, c)
	l.mu.Unlock()
}

// stopAccepting closes the socket: no new connections, the others go on.
func (l *listener) stopAccepting() { l.ln.Close() }

// busy reports whether an open connection has a publish in flight.
func (l *listener) busy() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for c := range l.conns {
		if c.busy.Load() > 0 {
			return true
		}
	}
	return false
}

// Close stops accepting, disconnects the logged-in clients (DISCONNECT
// 0x8B) through mqttlisten rather than mochi's closeClients, which can
// deadlock, closes every other connection (before CONNECT, or lingering)
// and waits for all of the listener's goroutines.
func (l *listener) Close(listeners.CloseFn) {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return
	}
	l.closed = true
	l.mu.Unlock()
	if l.httpSrv != nil {
		l.httpSrv.Close()
	}
	l.ln.Close()
	mqttlisten.Clients(l.s.Server)(l.id)
	l.mu.Lock()
	for c := range l.conns {
		c.Conn.Close()
	}
	l.mu.Unlock()
	l.wg.Wait()
}

// wsConn is an MQTT byte stream over WebSocket binary messages (MQTT 5.0,
// 6: packets may span messages and messages hold several packets).
type wsConn struct {
	net.Conn // the connection beneath, for addresses and deadlines
	ws       *websocket.Conn
	r        io.Reader // the message being read
}

func (c *wsConn) Read(p []byte) (int, error) {
	for {
		if c.r == nil {
			op, r, err := c.ws.NextReader()
			if err != nil {
				return 0, err
			}
			if op != websocket.BinaryMessage {
				return 0, errors.New("websocket: text message (MQTT needs binary)")
			}
			c.r = r
		}
		n, err := c.r.Read(p)
		if errors.Is(err, io.EOF) {
			c.r = nil
			if n == 0 {
				continue
			}
			err = nil
		}
		return n, err
	}
}

func (c *wsConn) Write(p []byte) (int, error) {
	if err := c.ws.WriteMessage(websocket.BinaryMessage, p); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (c *wsConn) Close() error { return c.ws.Close() }
