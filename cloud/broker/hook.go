package broker

import (
	"errors"
	"io"
	"os"
	"strings"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/rs/xid"

	"github.com/kanal-dev/kanal/cloud/auth"
	"github.com/kanal-dev/kanal/internal/wire"
	"github.com/kanal-dev/kanal/uplink/batch"
)

// maxClientID bounds the client id of a traffic or operator user.
const maxClientID = 256

// hook is the broker's one mochi hook: authentication, client-id binding,
// authorization and the per-client limits that need mochi's view of a
// client. One hook, not mochi's auth ledger plus more: mochi ORs the
// verdicts of several auth hooks, so any second one could only widen
// access. It must be the first hook (New adds it): its OnPublish runs
// before the bridge's.
type hook struct {
	mqtt.HookBase
	s *Server
}

// ID implements mqtt.Hook.
func (h *hook) ID() string { return "kanal-broker" }

// Provides implements mqtt.Hook.
func (h *hook) Provides(b byte) bool {
	switch b {
	case mqtt.OnConnect, mqtt.OnConnectAuthenticate, mqtt.OnSessionEstablished, mqtt.OnACLCheck,
		mqtt.OnPacketRead, mqtt.OnPacketProcessed, mqtt.OnPacketEncode, mqtt.OnPacketSent, mqtt.OnPublish, mqtt.OnDisconnect:
		return true
	}
	return false
}

// OnConnect caps the keep-alive: a client asking for none or for more than
// MaxKeepAlive is given MaxKeepAlive in CONNACK (mochi then closes a
// connection silent for 1.5 times it).
func (h *hook) OnConnect(cl *mqtt.Client, pk packets.Packet) error {
	limit := uint16(h.s.opts.MaxKeepAlive / time.Second)
	if limit > 0 && (pk.Connect.Keepalive == 0 || pk.Connect.Keepalive > limit) {
		cl.State.Keepalive = limit
		cl.State.ServerKeepalive = true
	}
	return nil
}

// OnConnectAuthenticate decides who the client is and whether its client
// id and last will fit that identity; deny by default. See login.
func (h *hook) OnConnectAuthenticate(cl *mqtt.Client, pk packets.Packet) bool {
	c := connOf(cl)
	if c == nil {
		return false // not from the broker's listeners: no limits, no identity
	}
	id, code, reason := h.s.login(c, cl, pk)
	if reason != "" {
		h.s.refuse(c, cl, pk, code, reason, id)
		return false
	}
	c.setIdentity(id)
	return true
}

// OnSessionEstablished closes the gap between verifying a password and
// the client joining mochi's client list, which a reload of the
// credentials file scans for logins it revokes: a reload in between is
// caught here.
func (h *hook) OnSessionEstablished(cl *mqtt.Client, pk packets.Packet) {
	c := connOf(cl)
	if c == nil || h.s.creds == nil {
		return
	}
	if id := c.identity(); id != nil && id.auth != nil && !h.s.creds.Snapshot().Valid(*id.auth) {
		h.s.kick(cl, c, packets.ErrNotAuthorized, "revoked")
	}
}

// OnACLCheck is the authorization: see rules.
func (h *hook) OnACLCheck(cl *mqtt.Client, topic string, write bool) bool {
	if cl.Net.Inline {
		return true
	}
	c := connOf(cl)
	if c == nil {
		return false
	}
	id := c.identity()
	if id == nil {
		return false
	}
	ok := false
	action := "read"
	if write {
		ok, action = id.mayPublish(topic), "publish"
	} else {
		ok = id.mayRead(topic)
	}
	if !ok {
		h.s.m.aclDenied.WithLabelValues(string(id.role), action).Inc()
		if c.aclLogged.CompareAndSwap(false, true) && h.s.logs.allow("acl|"+id.name, time.Now()) {
			h.s.log.Warn("broker: denied by the ACL (logged once per client; counted in kanal_broker_acl_denied_total)",
				"client", cl.ID, "role", id.role, "action", action, "topic", topic, "remote", c.remote())
		}
	}
	return ok
}

// OnPacketRead takes a token of the client's publish bucket for each
// PUBLISH; a client with none left is sent DISCONNECT 0x96 and its packet
// dropped before any other hook sees it. (Here, not in OnPublish: an
// error from OnPacketRead ends mochi's read loop as a failure, so the
// client's last will is published, as MQTT wants for a server-side cut.)
// During Shutdown a new PUBLISH gets DISCONNECT 0x8B instead; one let
// through counts as in flight until OnPacketProcessed.
func (h *hook) OnPacketRead(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	if pk.FixedHeader.Type != packets.Publish {
		return pk, nil
	}
	c := connOf(cl)
	if c == nil {
		return pk, nil
	}
	if h.s.draining.Load() {
		h.s.kick(cl, c, packets.ErrServerShuttingDown, "shutdown")
		return pk, packets.ErrRejectPacket
	}
	if !c.bucket.take(time.Now()) {
		h.s.kick(cl, c, packets.ErrMessageRateTooHigh, "rate_limit")
		return pk, packets.ErrRejectPacket
	}
	c.busy.Add(1)
	return pk, nil
}

// OnPacketProcessed ends a publish in flight: mochi calls it once the
// hooks (the bridge's wait for JetStream) are done and the PUBACK written.
func (h *hook) OnPacketProcessed(cl *mqtt.Client, pk packets.Packet, _ error) {
	if pk.FixedHeader.Type != packets.Publish {
		return
	}
	if c := connOf(cl); c != nil {
		c.busy.Add(-1)
	}
}

// OnPacketEncode announces the maximum packet size in a successful CONNACK
// (mochi enforces one but does not say so), so a client can know the
// limit before it hits it.
func (h *hook) OnPacketEncode(cl *mqtt.Client, pk packets.Packet) packets.Packet {
	if pk.FixedHeader.Type == packets.Connack && pk.ReasonCode == packets.CodeSuccess.Code {
		pk.Properties.MaximumPacketSize = uint32(h.s.opts.MaxPacketSize)
	}
	return pk
}

// OnPacketSent counts the logins mochi refused itself (before any hook:
// MQTT 3.1.1, or MaxConnections reached).
func (h *hook) OnPacketSent(cl *mqtt.Client, pk packets.Packet, _ []byte) {
	if pk.FixedHeader.Type != packets.Connack || pk.ReasonCode == packets.CodeSuccess.Code {
		return
	}
	c := connOf(cl)
	if c == nil || c.refused.Load() {
		return // the hook refused it and counted it
	}
	reason := refusedOther
	switch {
	case cl.Properties.ProtocolVersion < 5 || pk.ReasonCode == packets.ErrUnsupportedProtocolVersion.Code:
		reason = refusedProtocol
	case pk.ReasonCode == packets.ErrServerBusy.Code:
		reason = refusedBusy
	}
	h.s.m.refused.WithLabelValues(reason).Inc()
	if h.s.logs.allow("refused|"+reason+"|"+addrOf(c.raw).String(), time.Now()) {
		h.s.log.Warn("broker: login refused", "reason", reason, "code", pk.ReasonCode, "version", cl.Properties.ProtocolVersion,
			"client", cl.ID, "remote", c.remote())
	}
}

// OnPublish keeps batches and commands from being retained (a retained
// batch would keep up to 256 KiB per vehicle in the broker's memory, a
// retained command would run again at every subscription), and retains
// nothing over MaxRetained.
func (h *hook) OnPublish(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	if cl.Net.Inline || !pk.FixedHeader.Retain {
		return pk, nil
	}
	if _, leaf, ok := wire.VehicleOf(pk.TopicName); ok && (leaf == "batch" || leaf == "cmd") || len(pk.Payload) > int(h.s.opts.MaxRetained) {
		pk.FixedHeader.Retain = false
	}
	return pk, nil
}

// OnDisconnect counts how a logged-in connection ended (the broker's own
// cuts are counted when made).
func (h *hook) OnDisconnect(cl *mqtt.Client, err error, _ bool) {
	c := connOf(cl)
	if c == nil || c.identity() == nil || c.reason.Load() != nil {
		return
	}
	h.s.m.disconnects.WithLabelValues(disconnectReason(cl.StopCause(), err)).Inc()
}

func disconnectReason(stop, err error) string {
	var code packets.Code
	if errors.As(stop, &code) {
		switch code.Code {
		case packets.ErrSessionTakenOver.Code:
			return "taken_over"
		case packets.ErrServerShuttingDown.Code:
			return "shutdown"
		case packets.CodeDisconnect.Code:
			return "client"
		}
	}
	switch {
	case err == nil:
		return "client"
	case errors.Is(err, os.ErrDeadlineExceeded):
		return "keepalive"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "closed"
	}
	return "error"
}

// login decides a client's identity. Deny by default:
//
//   - A verified client certificate makes the client the vehicle its
//     CommonName names (which must be a valid vehicle id); a user name, if
//     sent too, must be that id; no password is needed.
//   - Otherwise the user name and password must verify against the
//     credentials file.
//   - A vehicle's client id must be its vehicle id. A traffic or operator
//     user's must start with its name and ':' (ops:console-1), or be empty
//     and is then assigned as NAME:<random>. Vehicle ids have no ':', so no
//     user can take a vehicle's client id, and no vehicle another's; so
//     nobody takes over another's session or gets its queued messages
//     (mochi hands a session to whoever logs in with its client id).
//   - A last will must be on a topic the identity may publish to (mochi
//     publishes wills without asking the ACL).
//
// It returns the refusal's code and reason, or an empty reason.
func (s *Server) login(c *conn, cl *mqtt.Client, pk packets.Packet) (*identity, packets.Code, string) {
	if cl.Properties.ProtocolVersion < 5 { // mochi refuses these first (MinimumProtocolVersion 5)
		return nil, packets.ErrUnsupportedProtocolVersion, refusedProtocol
	}
	user := string(pk.Connect.Username)
	var id *identity
	if cn, ok := c.certVehicle(); ok {
		id = &identity{role: auth.RoleVehicle, name: cn, cert: true}
		if batch.CheckVehicleID(cn) != nil || pk.Connect.UsernameFlag && user != cn {
			return id, packets.ErrNotAuthorized, refusedCertificate
		}
	} else {
		if !pk.Connect.UsernameFlag || s.creds == nil {
			return nil, packets.ErrBadUsernameOrPassword, refusedNoCredentials
		}
		l, err := s.creds.Login(user, string(pk.Connect.Password))
		switch {
		case errors.Is(err, auth.ErrUnknownUser):
			return &identity{name: user}, packets.ErrBadUsernameOrPassword, refusedUnknownUser
		case errors.Is(err, auth.ErrBusy):
			return &identity{name: user}, packets.ErrServerBusy, refusedBusy
		case err != nil:
			return &identity{name: user}, packets.ErrBadUsernameOrPassword, refusedBadPassword
		}
		id = &identity{role: l.Role, name: l.Name, auth: &l}
	}
	cid := pk.Connect.ClientIdentifier
	switch {
	case id.role == auth.RoleVehicle:
		if cid != id.name {
			return id, packets.ErrClientIdentifierNotValid, refusedClientID
		}
	case cid == "":
		cl.ID = id.name + ":" + xid.New().String()
		cl.Properties.Props.AssignedClientID = cl.ID
	case !strings.HasPrefix(cid, id.name+":") || len(cid) > maxClientID:
		return id, packets.ErrClientIdentifierNotValid, refusedClientID
	}
	if pk.Connect.WillFlag && !id.mayPublish(pk.Connect.WillTopic) {
		return id, packets.ErrNotAuthorized, refusedWillTopic
	}
	return id, packets.CodeSuccess, ""
}

// refuse counts and logs a refused login and answers it: mochi itself
// sends CONNACK 0x86 when the hook says no; any other code the broker
// sends and then closes the connection, so mochi's own CONNACK finds it
// closed and the client gets exactly one.
func (s *Server) refuse(c *conn, cl *mqtt.Client, pk packets.Packet, code packets.Code, reason string, id *identity) {
	c.refused.Store(true)
	s.m.refused.WithLabelValues(reason).Inc()
	name := ""
	if id != nil {
		name = id.name
	}
	if s.logs.allow("login|"+reason+"|"+name+"|"+addrOf(c.raw).String(), time.Now()) {
		s.log.Warn("broker: login refused (logged once per user, reason and address every 10 minutes; counted in kanal_broker_logins_refused_total)",
			"reason", reason, "code", code.Code, "user", name, "client", pk.Connect.ClientIdentifier, "remote", c.remote())
	}
	if code != packets.ErrBadUsernameOrPassword {
		s.Server.SendConnack(cl, code, false, nil)
		cl.Stop(code)
	}
}

// cut records why the broker ends a connection, counts it and logs it
// once per client; it reports false when the connection was cut already.
func (s *Server) cut(c *conn, reason, msg string, attrs ...any) bool {
	r := reason
	if !c.reason.CompareAndSwap(nil, &r) {
		return false
	}
	s.m.disconnects.WithLabelValues(reason).Inc()
	who := addrOf(c.raw).String()
	client := ""
	if id := c.identity(); id != nil {
		who, client = id.name, id.name
	}
	if s.logs.allow("cut|"+reason+"|"+who, time.Now()) {
		s.log.Warn("broker: client disconnected: "+msg+" (logged once per client and reason every 10 minutes; counted in kanal_broker_disconnects_total)",
			append([]any{"reason", reason, "client", client, "remote", c.remote()}, attrs...)...)
	}
	return true
}

// kick sends a logged-in client DISCONNECT with code and closes its
// connection (lingering, so the client reads the code).
func (s *Server) kick(cl *mqtt.Client, c *conn, code packets.Code, reason string) {
	if !s.cut(c, reason, code.Reason) {
		return
	}
	c.linger.Store(true)
	s.Server.DisconnectClient(cl, code)
}

// connectTimedOut counts a connection that did not send CONNECT in time.
func (s *Server) connectTimedOut(c *conn) {
	s.cut(c, "connect_timeout", "no CONNECT within the connect timeout", "timeout", s.opts.ConnectTimeout)
}

// revoke disconnects, with 0x87, the password logins a reload of the
// credentials file no longer allows: users removed, or given a new
// password or role. Certificate logins are the CA's to revoke.
func (s *Server) revoke(set *auth.Set) {
	for _, cl := range s.Clients.GetAll() {
		c := connOf(cl)
		if c == nil || cl.Closed() {
			continue
		}
		if id := c.identity(); id != nil && id.auth != nil && !set.Valid(*id.auth) {
			s.kick(cl, c, packets.ErrNotAuthorized, "revoked")
		}
	}
}
