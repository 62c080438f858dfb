package broker

import (
	"os"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/kanal-dev/kanal/cloud/auth"
	"github.com/kanal-dev/kanal/internal/wire"
)

// TestReloadRevokes: a reload disconnects (0x87) the users it removed or
// gave a new password, and no one else; the new password works at once.
func TestReloadRevokes(t *testing.T) {
	f := start(t, Options{})
	v1, v2 := f.login(t, "veh-1", "veh-1"), f.login(t, "veh-2", "veh-2")
	ops, svc := f.login(t, "ops", "ops:1"), f.login(t, "svc", "svc:1")
	if err := auth.RemoveUser(f.file, "veh-1"); err != nil {
		t.Fatal(err)
	}
	newPw, err := auth.AddUser(f.file, "ops", auth.RoleOperator, auth.AddOptions{Replace: true, Cost: 4})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.s.Reload(); err != nil {
		t.Fatal(err)
	}
	if code := v1.waitDisconnect(t, 5*time.Second); code != 0x87 {
		t.Errorf("removed vehicle: DISCONNECT %#02x", code)
	}
	if code := ops.waitDisconnect(t, 5*time.Second); code != 0x87 {
		t.Errorf("operator with a new password: DISCONNECT %#02x", code)
	}
	for _, c := range []*client{v2, svc} {
		select {
		case d := <-c.disconnected:
			t.Errorf("an unchanged user was disconnected: %#02x", d.ReasonCode)
		default:
		}
	}
	if code := v2.publish(t, wire.StatusTopic("veh-2"), []byte("x")); code >= 0x80 {
		t.Errorf("unchanged vehicle: %#02x", code)
	}
	if got := f.metric(t, f.s.m.disconnects.WithLabelValues("revoked")); got != 2 {
		t.Errorf("disconnects{revoked} = %v", got)
	}
	if code := f.refused(t, &paho.Connect{ClientID: "veh-1", CleanStart: true, Username: "veh-1", UsernameFlag: true,
		Password: []byte(f.pw["veh-1"]), PasswordFlag: true}); code != 0x86 {
		t.Errorf("removed vehicle logs in again: %#02x", code)
	}
	f.pw["ops-new"] = newPw
	if _, _, err := connect(t, tcpDialer(f.s.Addr(ListenerMQTT)), &paho.Connect{ClientID: "ops:2", CleanStart: true, KeepAlive: 30,
		Username: "ops", UsernameFlag: true, Password: []byte(newPw), PasswordFlag: true}); err != nil {
		t.Errorf("new password: %v", err)
	}
}

// TestReloadBadFileKeepsOld: a broken file changes nothing.
func TestReloadBadFileKeepsOld(t *testing.T) {
	f := start(t, Options{})
	v1 := f.login(t, "veh-1", "veh-1")
	if err := os.WriteFile(f.file, []byte("version: 1\nusers: [oops\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := f.s.Reload(); err == nil {
		t.Fatal("Reload of a broken file succeeded")
	}
	if code := v1.publish(t, wire.StatusTopic("veh-1"), []byte("x")); code >= 0x80 {
		t.Errorf("connected vehicle after a bad reload: %#02x", code)
	}
	f.login(t, "veh-2", "veh-2")
}

// TestFileWatchRevokes: the gateway's Credentials.Run sees the file change
// by itself and the broker acts on it.
func TestFileWatchRevokes(t *testing.T) {
	f := start(t, Options{}, func(o *auth.Options) { o.Poll = 10 * time.Millisecond })
	ctx, cancel := contextWithTimeout()
	done := make(chan struct{})
	go func() { f.creds.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	svc := f.login(t, "svc", "svc:1")
	if err := auth.RemoveUser(f.file, "svc"); err != nil {
		t.Fatal(err)
	}
	if code := svc.waitDisconnect(t, 5*time.Second); code != 0x87 {
		t.Errorf("DISCONNECT %#02x", code)
	}
}
