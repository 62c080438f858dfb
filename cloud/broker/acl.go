package broker

import (
	"strings"

	mqtt "github.com/mochi-mqtt/server/v2"

	"github.com/kanal-dev/kanal/cloud/auth"
	"github.com/kanal-dev/kanal/internal/wire"
)

// identity is who a connection logged in as.
type identity struct {
	role auth.Role
	name string      // the vehicle id, or the user's name
	cert bool        // by client certificate (else by password)
	auth *auth.Login // the password login, for revocation on reload
}

// rule is a topic filter, split into levels, that a role may publish to or
// read from; the level self stands for the client's own name.
type rule []string

// self is the level of a rule that matches the client's name only. It is
// no level a client could send (a client's "{self}" is a literal level,
// compared to the name like any other).
const self = "{self}"

func newRule(filter string) rule { return strings.Split(filter, "/") }

// alertsAll is kanal/v1/alerts/#: every alert. wire has no helper for the
// whole subtree, so it is built from AlertTopic's prefix.
var alertsAll = strings.TrimSuffix(wire.AlertTopic("#", ""), "/")

// rules are what each role may do, and everything not here is denied
// (mochi's own ledger allows what no rule names, and several auth hooks
// OR together: this hook is the only one, and it ends in deny).
//
//	role      publish                              subscribe and receive
//	vehicle   kanal/v1/vehicles/{self}/batch       kanal/v1/vehicles/{self}/cmd
//	          kanal/v1/vehicles/{self}/status      kanal/v1/cells/+/notice
//	traffic   nothing                              kanal/v1/alerts/#
//	operator  kanal/v1/vehicles/+/cmd              kanal/v1/vehicles/+/status
//	          kanal/v1/cells/+/notice              kanal/v1/alerts/#
//	                                               kanal/v1/cells/+/notice
//
// Nobody but the gateway's inline client (which bypasses the ACL)
// publishes alerts. A subscription is allowed only when every topic its
// filter matches is readable (covers), so kanal/v1/vehicles/+/cmd or
// kanal/# are refused to a vehicle; messages are checked again on
// delivery. Shared subscriptions ($share/GROUP/filter) are for traffic and
// operator users whose GROUP is their own name, so no user can join
// another's group and take a share of its messages.
var rules = map[auth.Role]struct{ publish, read []rule }{
	auth.RoleVehicle: {
		publish: []rule{newRule(wire.BatchTopic(self)), newRule(wire.StatusTopic(self))},
		read:    []rule{newRule(wire.CommandTopic(self)), newRule(wire.NoticeTopic("+"))},
	},
	auth.RoleTraffic: {
		read: []rule{newRule(alertsAll)},
	},
	auth.RoleOperator: {
		publish: []rule{newRule(wire.CommandTopic("+")), newRule(wire.NoticeTopic("+"))},
		read:    []rule{newRule(wire.StatusTopic("+")), newRule(alertsAll), newRule(wire.NoticeTopic("+"))},
	},
}

// mayPublish reports whether id may publish to topic (no wildcards).
func (id *identity) mayPublish(topic string) bool {
	if strings.ContainsAny(topic, "+#") {
		return false
	}
	for _, r := range rules[id.role].publish {
		if covers(r, id.name, topic) {
			return true
		}
	}
	return false
}

// mayRead reports whether id may subscribe to filter, or receive a message
// on a topic (a filter without wildcards).
func (id *identity) mayRead(filter string) bool {
	if first, rest, ok := strings.Cut(filter, "/"); ok && strings.EqualFold(first, "$share") {
		group, f, ok := strings.Cut(rest, "/")
		if !ok || id.role == auth.RoleVehicle || group != id.name {
			return false
		}
		filter = f
	}
	for _, r := range rules[id.role].read {
		if covers(r, id.name, filter) {
			return true
		}
	}
	return false
}

// covers reports whether every topic filter matches is matched by r, with
// r's self level standing for name. Topics are compared level by level:
// r's '#' covers whatever is left (and, as MQTT says, its parent level);
// a '+' in filter needs '+' (or '#') in r; a literal level in filter needs
// the same literal, '+', or self equal to name. It allocates nothing: it
// runs for every delivered message.
func covers(r rule, name, filter string) bool {
	rest, more := filter, true
	for _, p := range r {
		if p == "#" {
			return true
		}
		if !more {
			return false // filter ends above r: its last level's topic is not in r
		}
		var f string
		f, rest, more = cutLevel(rest)
		switch {
		case f == "#":
			return false
		case f == "+":
			if p != "+" {
				return false
			}
		case p == "+":
		case p == self:
			if f != name {
				return false
			}
		case f != p:
			return false
		}
	}
	return !more // filter goes below r
}

// cutLevel returns the first level of a topic and the rest after its '/'.
func cutLevel(s string) (level, rest string, more bool) {
	i := strings.IndexByte(s, '/')
	if i < 0 {
		return s, "", false
	}
	return s[:i], s[i+1:], true
}

// ClientIdentity returns who a client of the broker logged in as: its role
// and name (for a vehicle, its vehicle id), or false for the inline client
// or a client not (or not yet) logged in. The bridge uses it to check that
// a batch's vehicle is the sender's:
//
//	bridge.Options{Identity: func(cl *mqtt.Client) string {
//		if role, name, ok := broker.ClientIdentity(cl); ok && role == auth.RoleVehicle {
//			return name
//		}
//		return ""
//	}}
func ClientIdentity(cl *mqtt.Client) (role auth.Role, name string, ok bool) {
	c := connOf(cl)
	if c == nil {
		return "", "", false
	}
	id := c.identity()
	if id == nil {
		return "", "", false
	}
	return id.role, id.name, true
}
