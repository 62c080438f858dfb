package store

import (
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/kanal-dev/kanal/cloud/store/storetest"
	"github.com/kanal-dev/kanal/internal/wire"
)

func TestDead(t *testing.T) {
	js := jetStream(t, Options{})
	s, _ := newStore(t, js, Options{})
	ctx := testCtx(t, 10*time.Second)
	payload := []byte("\x00\x01 not a batch")
	if err := s.Dead(ctx, "malformed", "veh-1", payload, "read batch header: payload: unexpected EOF\r\nInjected: yes"); err != nil {
		t.Fatal(err)
	}
	if err := s.Dead(ctx, "malformed", "veh-1", payload, "again"); err != nil { // a retry within the window
		t.Fatal(err)
	}
	if err := s.Dead(ctx, "vehicle_mismatch", "", []byte("y"), ""); err != nil {
		t.Fatal(err)
	}
	msgs := storetest.Read(t, js, wire.DeadStream)
	if len(msgs) != 2 {
		t.Fatalf("%d dead letters, want 2 (the retry is one)", len(msgs))
	}
	m := msgs[0]
	if m.Subject != "kanal.dead.malformed" || string(m.Data) != string(payload) ||
		m.Header.Get(HeaderReason) != "malformed" || m.Header.Get(HeaderVehicle) != "veh-1" ||
		m.Header.Get(HeaderDetail) != "read batch header: payload: unexpected EOF??Injected: yes" ||
		!strings.HasPrefix(m.Header.Get(jetstream.MsgIDHeader), "dead:") {
		t.Fatalf("dead letter: %s %q %v", m.Subject, m.Data, m.Header)
	}
	if m := msgs[1]; m.Subject != "kanal.dead.vehicle_mismatch" || m.Header.Get(HeaderVehicle) != "" || m.Header.Get(HeaderDetail) != "" {
		t.Fatalf("dead letter without vehicle: %s %v", m.Subject, m.Header)
	}
	if n := len(ledgerOf(t, js)); n != 0 {
		t.Fatalf("a dead letter went to %s", wire.BatchesStream)
	}
}

func TestDeadRefusesBadReasons(t *testing.T) {
	js := jetStream(t, Options{})
	s, _ := newStore(t, js, Options{})
	for _, reason := range []string{"", "a.b", "a*", "a b", strings.Repeat("x", 65), ">"} {
		t.Run(reason, func(t *testing.T) {
			if err := s.Dead(testCtx(t, 5*time.Second), reason, "veh", []byte("x"), ""); err == nil {
				t.Fatalf("reason %q taken", reason)
			}
		})
	}
}

func TestHeaderSafe(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain", "plain"},
		{"a\r\nb\tc\x00d\x7f", "a??b?c?d?"},
		{"bad \xff utf-8", "bad ? utf-8"},
		{"ünïcödé", "ünïcödé"},
		{strings.Repeat("é", 600), strings.Repeat("é", 512)}, // cut on a rune boundary at 1024 bytes
		{strings.Repeat("x", 1023) + "é", strings.Repeat("x", 1023)},
	}
	for _, tc := range tests {
		if got := headerSafe(tc.in, MaxDetail); got != tc.want {
			t.Errorf("headerSafe(%.20q) = %.20q (%d bytes), want %.20q", tc.in, got, len(got), tc.want)
		}
	}
}
