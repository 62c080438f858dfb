package main

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/kanal-dev/kanal/cloud/alert"
	"github.com/kanal-dev/kanal/cloud/gateway"
	"github.com/kanal-dev/kanal/internal/await"
	"github.com/kanal-dev/kanal/internal/freeport"
	"github.com/kanal-dev/kanal/internal/wire"
)

// freeAddrs returns n distinct loopback addresses nothing listens on right
// now (internal/freeport says why not port 0).
func freeAddrs(t *testing.T, n int) []string {
	t.Helper()
	addrs, err := freeport.Addrs(n)
	if err != nil {
		t.Fatal(err)
	}
	return addrs
}

// httpGet returns the status and body of a GET, 0 when it fails.
func httpGet(url string) (int, string) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, ""
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(data)
}

// TestProcessCommand: `process` with a rules file runs a processor on the
// NATS URL it is given: two vehicles with fog lights raise fog, as the
// file says, and /healthz answers.
func TestProcessCommand(t *testing.T) {
	env := newAlertEnv(t, false)
	rules := filepath.Join(t.TempDir(), "rules.yaml")
	if err := os.WriteFile(rules, []byte("fog: {min_vehicles: 2}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), alertTestTimeout)
	defer cancel()
	addr := freeAddrs(t, 1)[0]
	var out, errOut syncBuffer
	done := runCommand(ctx, []string{"process", "--nats-url", env.ns.ClientURL(), "--rules", rules,
		"--http-listen", addr, "--name", "test-1", "--log-level", "warn"}, &out, &errOut)
	await.Until(t, alertTestTimeout, "healthz active", func() bool {
		code, body := httpGet("http://" + addr + "/healthz")
		return code == 200 && strings.Contains(body, "active: true")
	})
	env.send(t, "v1", alertCell, true, false)
	env.send(t, "v2", alertCell, true, false)
	await.Until(t, alertTestTimeout, "fog raised by two vehicles", func() bool {
		s, err := env.js.Stream(ctx, wire.AlertsStream)
		if err != nil {
			return false
		}
		m, err := s.GetLastMsgForSubject(ctx, wire.AlertSubject(alert.KindFog, alertCell.Token()))
		if err != nil {
			return false
		}
		a, err := alert.Parse(m.Data)
		return err == nil && a.Count == 2 && m.Header.Get(jetstream.MsgIDHeader) == a.MsgID()
	})
	await.Until(t, alertTestTimeout, "the alert counted in the metrics", func() bool { // counted once JetStream acked it
		_, body := httpGet("http://" + addr + "/metrics")
		return strings.Contains(body, `kanal_alerts_published_total{kind="fog",state="raised"} 1`)
	})
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("process: %v (%s)", err, errOut.String())
		}
	case <-time.After(alertTestTimeout):
		t.Fatal("process did not stop")
	}
}

func TestProcessMistakes(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "rules.yaml")
	if err := os.WriteFile(bad, []byte("fog:\n  min_vehicles: many\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), alertTestTimeout)
	defer cancel()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"process"}, "--nats-url is required"},
		{[]string{"process", "--nats-url", "nats://127.0.0.1:1", "--rules", bad}, bad + ":2:17: fog.min_vehicles"},
		{[]string{"process", "--nats-url", "nats://127.0.0.1:1", "--rules", "/nonexistent.yaml"}, "no such file"},
	} {
		var out, errOut syncBuffer
		err := <-runCommand(ctx, tc.args, &out, &errOut)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want %q", tc.args, err, tc.want)
		}
	}
	if got := gateway.RedactURL("nats://ops:secret@h1:4222,tls://h2:4222"); got != "nats://REDACTED@h1:4222,tls://h2:4222" {
		t.Errorf("RedactURL = %q", got)
	}
}
