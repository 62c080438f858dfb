package broker

import (
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// Lingering: after the broker cut a client with a DISCONNECT, it half-closes
// the connection and reads and drops what the client still sends for a
// moment before closing. Closing at once while the client's bytes (the rest
// of an oversized packet) are unread would send a TCP reset, which can
// destroy the DISCONNECT in the client's receive buffer before it is read:
// the client could then not tell the reason from a network fault.
const (
	lingerTime  = 2 * time.Second
	lingerBytes = 1 << 20
	writeWait   = time.Second // bound on writing a DISCONNECT to a client that does not read
)

// errPacketTooLarge ends the read loop of a client that sent a packet over
// the limit (after DISCONNECT 0x95 was written).
var errPacketTooLarge = errors.New("packet too large")

// conn is a client connection as mochi sees it: it wraps the TCP, TLS or
// WebSocket connection with what the broker adds per connection, so that
// this state lives and dies with the connection and needs no map: the
// framing guard, the publish bucket, the identity, the reason it was cut.
// mochi keeps it as Client.Net.Conn; connOf gets it back.
type conn struct {
	net.Conn // what mochi reads and writes

	s       *Server
	l       *listener
	raw     net.Conn             // the accepted TCP connection beneath
	tlsConn *tls.Conn            // the TLS layer, when there is one
	peer    *tls.ConnectionState // a WebSocket's TLS state, known at upgrade

	// Read side: only mochi's read loop touches these.
	guard   frameGuard
	pending error
	bucket  tokenBucket

	wmu       sync.Mutex // serializes writes: mochi's and the broker's DISCONNECTs
	id        atomic.Pointer[identity]
	reason    atomic.Pointer[string] // why the broker cut it, first one wins
	refused   atomic.Bool            // the broker refused the login itself (and counted it)
	linger    atomic.Bool
	aclLogged atomic.Bool
	busy      atomic.Int32 // publishes read and not yet processed (Shutdown waits for them)
	closeOnce sync.Once
}

func (s *Server) newConn(l *listener, c, raw net.Conn, tc *tls.Conn, peer *tls.ConnectionState) *conn {
	return &conn{
		Conn: c, s: s, l: l, raw: raw, tlsConn: tc, peer: peer,
		guard:  frameGuard{max: int(s.opts.MaxPacketSize)},
		bucket: newTokenBucket(s.opts.PublishRate, s.opts.PublishBurst, time.Now()),
	}
}

// connOf returns the broker's conn of a mochi client, nil for the inline
// client or a connection that did not come through the broker's listeners.
func connOf(cl *mqtt.Client) *conn {
	c, _ := cl.Net.Conn.(*conn)
	return c
}

// Read passes the client's bytes to mochi, stopping at a packet over the
// limit: mochi gets the bytes before it, then an error, and the client a
// DISCONNECT 0x95 (or, for an oversized CONNECT, nothing: it has no session
// to be told about).
func (c *conn) Read(p []byte) (int, error) {
	if c.pending != nil {
		return 0, c.cutTooLarge()
	}
	n, err := c.Conn.Read(p)
	if n > 0 {
		if pass, big := c.guard.scan(p[:n]); big {
			c.pending = errPacketTooLarge
			if pass == 0 {
				return 0, c.cutTooLarge()
			}
			return pass, nil
		}
	}
	if err != nil && c.guard.packets == 0 {
		switch {
		case errors.Is(err, os.ErrDeadlineExceeded):
			c.s.connectTimedOut(c)
		case c.tlsConn != nil && !c.tlsConn.ConnectionState().HandshakeComplete && !errors.Is(err, io.EOF):
			c.s.cut(c, "tls_handshake", "TLS handshake failed", "error", err.Error())
		}
	}
	return n, err
}

func (c *conn) cutTooLarge() error {
	if c.reason.Load() == nil {
		c.s.cut(c, "packet_too_large", "packet too large", "size", c.guard.size, "limit", c.guard.max)
		if c.guard.packets > 0 { // past CONNECT, and only MQTT v5 gets that far
			c.writeDisconnect(packets.ErrPacketTooLarge)
		}
	}
	return c.pending
}

// Write serializes writes, so that a DISCONNECT the broker writes itself
// lands between mochi's packets (mochi writes each packet with one Write),
// and a WebSocket never sees two writers at once.
func (c *conn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.Conn.Write(p)
}

// writeDisconnect writes an MQTT v5 DISCONNECT with reason code and marks
// the connection to linger on close.
func (c *conn) writeDisconnect(code packets.Code) {
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Disconnect}, ProtocolVersion: 5, ReasonCode: code.Code}
	var b bytes.Buffer
	if err := pk.DisconnectEncode(&b); err != nil {
		return
	}
	c.linger.Store(true)
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.Conn.SetWriteDeadline(time.Now().Add(writeWait))
	c.Conn.Write(b.Bytes())
}

// setIdentity records a successful login.
func (c *conn) setIdentity(id *identity) {
	c.id.Store(id)
	c.s.m.connections.WithLabelValues(string(id.role)).Inc()
}

func (c *conn) identity() *identity { return c.id.Load() }

// Close closes the connection once: at once, or lingering (see lingerTime)
// when the broker cut the client with a DISCONNECT.
func (c *conn) Close() error {
	c.closeOnce.Do(func() {
		if id := c.id.Load(); id != nil {
			c.s.m.connections.WithLabelValues(string(id.role)).Dec()
		}
		if !c.linger.Load() || !c.l.goLinger(c) {
			c.Conn.Close()
			c.l.untrack(c)
		}
	})
	return nil
}

// drain is the lingering close: half-close, read and drop for a while,
// then close.
func (c *conn) drain() {
	if c.tlsConn != nil {
		c.tlsConn.CloseWrite() // close_notify, so the client reads to the end
	}
	if cw, ok := c.raw.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
	c.raw.SetReadDeadline(time.Now().Add(lingerTime))
	io.Copy(io.Discard, io.LimitReader(c.raw, lingerBytes))
	c.Conn.Close()
	c.l.untrack(c)
}

// remote is the client's address for logs.
func (c *conn) remote() string {
	if a := c.raw.RemoteAddr(); a != nil {
		return a.String()
	}
	return ""
}

// certVehicle returns the vehicle id of a verified client certificate:
// its Subject CommonName. URI and DNS SANs are not read: one name, the one
// every fleet PKI and `openssl req -subj /CN=...` sets, and no choice
// between two names that could disagree.
func (c *conn) certVehicle() (string, bool) {
	st := c.peer
	if c.tlsConn != nil {
		cs := c.tlsConn.ConnectionState()
		st = &cs
	}
	if st == nil || len(st.VerifiedChains) == 0 || len(st.PeerCertificates) == 0 {
		return "", false
	}
	return st.PeerCertificates[0].Subject.CommonName, true
}
