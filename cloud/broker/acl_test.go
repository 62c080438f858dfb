package broker

import (
	"fmt"
	"strings"
	"testing"

	"github.com/kanal-dev/kanal/cloud/auth"
	"github.com/kanal-dev/kanal/internal/wire"
)

func TestAlertsAll(t *testing.T) {
	if alertsAll != "kanal/v1/alerts/#" {
		t.Fatalf("alertsAll = %q", alertsAll)
	}
	if !strings.HasPrefix(wire.AlertTopic("fog", "89c25"), strings.TrimSuffix(alertsAll, "#")) {
		t.Fatal("alert topics are not under alertsAll")
	}
}

func TestCovers(t *testing.T) {
	for _, tc := range []struct {
		rule, filter string
		want         bool
	}{
		{"a/b/c", "a/b/c", true},
		{"a/b/c", "a/b", false},
		{"a/b/c", "a/b/c/d", false},
		{"a/b/c", "a/+/c", false},
		{"a/b/c", "a/#", false},
		{"a/b/c", "#", false},
		{"a/+/c", "a/x/c", true},
		{"a/+/c", "a/+/c", true},
		{"a/+/c", "a//c", true},
		{"a/+/c", "a/#", false},
		{"a/+/c", "a/x/#", false},
		{"a/+/c", "a/x/c/d", false},
		{"a/+/c", "+/x/c", false},
		{"a/#", "a", true}, // '#' matches its parent level
		{"a/#", "a/b/c/d", true},
		{"a/#", "a/+", true},
		{"a/#", "a/#", true},
		{"a/#", "a/+/#", true},
		{"a/#", "#", false},
		{"a/#", "+/#", false},
		{"a/#", "b/x", false},
		{"a/#", "$share/g/a/x", false}, // shares are unwrapped by mayRead, never by covers
		{"a/" + self + "/c", "a/me/c", true},
		{"a/" + self + "/c", "a/you/c", false},
		{"a/" + self + "/c", "a/+/c", false},
		{"a/" + self + "/c", "a/" + self + "/c", false}, // a client's "{self}" is a literal
		{"a/" + self + "/c", "a/me/#", false},
		{"a", "", false},
		{"", "", true},
	} {
		t.Run(tc.rule+" "+tc.filter, func(t *testing.T) {
			if got := covers(newRule(tc.rule), "me", tc.filter); got != tc.want {
				t.Errorf("covers(%q, %q) = %v", tc.rule, tc.filter, got)
			}
		})
	}
}

// TestCoversExhaustive checks covers against the definition on a small
// world: for every filter over a few levels, covers(rule, filter) holds
// exactly when each topic the filter matches is matched by the rule.
func TestCoversExhaustive(t *testing.T) {
	levels := []string{"k", "v", "me", "x", ""}
	var topics []string
	var walk func(prefix []string, depth int)
	walk = func(prefix []string, depth int) {
		if depth > 0 {
			topics = append(topics, strings.Join(prefix, "/"))
		}
		if depth == 4 {
			return
		}
		for _, l := range levels {
			walk(append(prefix, l), depth+1)
		}
	}
	walk(nil, 0)
	filters := append([]string{}, topics...)
	for _, tp := range topics {
		parts := strings.Split(tp, "/")
		for i := range parts {
			p := append([]string{}, parts...)
			p[i] = "+"
			filters = append(filters, strings.Join(p, "/"))
			filters = append(filters, strings.Join(append(parts[:i:i], "#"), "/"))
		}
	}
	rulesUnderTest := []string{"k/v/" + self, "k/+/x", "k/#", "k/" + self + "/#", "+/v", "k"}
	for _, rs := range rulesUnderTest {
		r := newRule(rs)
		for _, f := range filters {
			want := true
			for _, tp := range topics {
				if match(f, tp) && !match(strings.ReplaceAll(rs, self, "me"), tp) {
					want = false
					break
				}
			}
			if got := covers(r, "me", f); got != want {
				t.Errorf("covers(%q, %q) = %v, want %v", rs, f, got, want)
			}
		}
	}
}

// match is MQTT topic matching, written plainly from the specification.
func match(filter, topic string) bool {
	f, tp := strings.Split(filter, "/"), strings.Split(topic, "/")
	for i, l := range f {
		if l == "#" {
			return true
		}
		if i >= len(tp) || l != "+" && l != tp[i] {
			return false
		}
	}
	return len(f) == len(tp)
}

func TestRules(t *testing.T) {
	veh := &identity{role: auth.RoleVehicle, name: "veh-1"}
	svc := &identity{role: auth.RoleTraffic, name: "svc"}
	ops := &identity{role: auth.RoleOperator, name: "ops"}
	const cell = "89c25"
	for _, tc := range []struct {
		id      *identity
		publish bool
		topic   string
		want    bool
	}{
		{veh, true, wire.BatchTopic("veh-1"), true},
		{veh, true, wire.StatusTopic("veh-1"), true},
		{veh, true, wire.BatchTopic("veh-2"), false},
		{veh, true, wire.StatusTopic("veh-2"), false},
		{veh, true, wire.CommandTopic("veh-1"), false},
		{veh, true, wire.NoticeTopic(cell), false},
		{veh, true, wire.AlertTopic("fog", cell), false},
		{veh, true, wire.BatchTopic("veh-1") + "/x", false},
		{veh, true, "kanal/v1/vehicles/veh-1", false},
		{veh, true, "kanal/v1/vehicles/+/batch", false},
		{veh, true, "$SYS/broker", false},
		{veh, false, wire.CommandTopic("veh-1"), true},
		{veh, false, wire.NoticeTopic(cell), true},
		{veh, false, wire.NoticeTopic("+"), true},
		{veh, false, wire.CommandTopic("veh-2"), false},
		{veh, false, wire.CommandTopic("+"), false},
		{veh, false, "kanal/v1/vehicles/veh-1/#", false},
		{veh, false, "kanal/v1/vehicles/+/#", false},
		{veh, false, "kanal/v1/cells/#", false},
		{veh, false, "kanal/v1/cells/+/+", false},
		{veh, false, "kanal/#", false},
		{veh, false, "#", false},
		{veh, false, "+/v1/vehicles/veh-1/cmd", false},
		{veh, false, wire.StatusTopic("veh-1"), false},
		{veh, false, "$share/veh-1/" + wire.CommandTopic("veh-1"), false},
		{veh, false, "$SYS/#", false},
		{svc, true, wire.AlertTopic("fog", cell), false},
		{svc, true, wire.NoticeTopic(cell), false},
		{svc, true, wire.BatchTopic("svc"), false},
		{svc, false, alertsAll, true},
		{svc, false, "kanal/v1/alerts/fog/+", true},
		{svc, false, wire.AlertTopic("fog", cell), true},
		{svc, false, "$share/svc/" + alertsAll, true},
		{svc, false, "$SHARE/svc/" + alertsAll, true},
		{svc, false, "$share/ops/" + alertsAll, false},
		{svc, false, "$share/svc", false},
		{svc, false, "kanal/v1/+/fog/" + cell, false},
		{svc, false, wire.NoticeTopic(cell), false},
		{svc, false, wire.CommandTopic("veh-1"), false},
		{svc, false, "kanal/#", false},
		{ops, true, wire.CommandTopic("veh-1"), true},
		{ops, true, wire.NoticeTopic(cell), true},
		{ops, true, wire.AlertTopic("fog", cell), false},
		{ops, true, wire.BatchTopic("veh-1"), false},
		{ops, true, wire.StatusTopic("veh-1"), false},
		{ops, false, wire.StatusTopic("+"), true},
		{ops, false, wire.StatusTopic("veh-1"), true},
		{ops, false, alertsAll, true},
		{ops, false, wire.NoticeTopic("+"), true},
		{ops, false, wire.CommandTopic("+"), false},
		{ops, false, wire.BatchTopic("+"), false},
		{ops, false, "kanal/v1/vehicles/#", false},
		{ops, false, "kanal/v1/vehicles/+/+", false},
		{ops, false, "$share/ops/" + wire.StatusTopic("+"), true},
		{&identity{role: "admin", name: "root"}, false, "#", false},
		{&identity{role: "admin", name: "root"}, true, "a", false},
	} {
		what := "read"
		if tc.publish {
			what = "publish"
		}
		t.Run(fmt.Sprintf("%s %s %s", tc.id.name, what, tc.topic), func(t *testing.T) {
			got := tc.id.mayRead(tc.topic)
			if tc.publish {
				got = tc.id.mayPublish(tc.topic)
			}
			if got != tc.want {
				t.Errorf("= %v, want %v", got, tc.want)
			}
		})
	}
}

func BenchmarkMayRead(b *testing.B) {
	id := &identity{role: auth.RoleVehicle, name: "veh-000001"}
	topic := wire.NoticeTopic("89c25b")
	b.ReportAllocs()
	for b.Loop() {
		if !id.mayRead(topic) {
			b.Fatal("denied")
		}
	}
}

func TestClientIdentity(t *testing.T) {
	f := start(t, Options{})
	f.login(t, "veh-1", "veh-1")
	f.login(t, "ops", "ops:1")
	for cid, want := range map[string]string{"veh-1": "vehicle veh-1", "ops:1": "operator ops"} {
		cl, ok := f.s.Clients.Get(cid)
		if !ok {
			t.Fatalf("no client %s", cid)
		}
		role, name, ok := ClientIdentity(cl)
		if got := string(role) + " " + name; !ok || got != want {
			t.Errorf("ClientIdentity(%s) = %q, %v; want %q", cid, got, ok, want)
		}
	}
	inline, _ := f.s.Clients.Get("inline")
	if _, _, ok := ClientIdentity(inline); ok {
		t.Error("the inline client has an identity")
	}
}
