package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kanal-dev/kanal/cloud/auth"
	"github.com/kanal-dev/kanal/internal/brokertest"
	"github.com/kanal-dev/kanal/sim/loadgen"
)

const candumps = "../../../testdata/candumps"

// runCLI runs the command with args and returns its exit code and output.
func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out, errOut bytes.Buffer
	code := run(ctx, args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestRun(t *testing.T) {
	br := brokertest.Start(t, brokertest.Options{})
	creds := filepath.Join(t.TempDir(), "fleet.yaml")
	for _, tc := range []struct {
		desc  string
		args  []string
		check func(t *testing.T, r *loadgen.Report)
	}{
		{"synthetic", []string{"--connections", "20", "--rate", "5", "--signals", "50", "--seconds", "5"}, func(t *testing.T, r *loadgen.Report) {
			if r.Profile != "synthetic, 50 signals" || r.Acked == 0 || r.Acked != r.Published {
				t.Errorf("%s: published %d, acked %d", r.Profile, r.Published, r.Acked)
			}
		}},
		{"drive", []string{"--connections", "5", "--rate", "5", "--drive", candumps + "/drive_city.log",
			"--dbc", candumps + "/kanal_demo.dbc", "--mapping", candumps + "/kanal_demo.mapping.yaml", "--payload", "encode"}, func(t *testing.T, r *loadgen.Report) {
			if !strings.HasPrefix(r.Profile, "drive: ") || r.Payload != "encode" || r.Acked == 0 || r.ValuesPerBatch > 30 {
				t.Errorf("%s (%s): %.1f values a batch, acked %d", r.Profile, r.Payload, r.ValuesPerBatch, r.Acked)
			}
		}},
		{"credentials", []string{"--connections", "4", "--credentials", creds, "--credentials-wait", "0", "--vehicle-prefix", "cli",
			"--loopback-addrs", "2"}, func(t *testing.T, r *loadgen.Report) {
			set, err := auth.Load(creds)
			if err != nil || set.Len() != 4 {
				t.Fatalf("credentials: %v", err)
			}
			if _, ok := set.Lookup("cli-000004"); !ok || r.Held != 4 {
				t.Errorf("users %v, held %d", set.Users(), r.Held)
			}
		}},
		{"idle", []string{"--connections", "3", "--idle", "--password", "pw"}, func(t *testing.T, r *loadgen.Report) {
			if r.Held != 3 || r.Published != 0 {
				t.Errorf("held %d, published %d", r.Held, r.Published)
			}
		}},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			args := append([]string{"--broker", br.URL(), "--duration", "1s", "--json", "--progress", "300ms"}, tc.args...)
			code, out, errOut := runCLI(t, args...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			var r loadgen.Report
			if err := json.Unmarshal([]byte(out), &r); err != nil {
				t.Fatalf("%v: %s", err, out)
			}
			if !strings.Contains(errOut, "msg=progress") {
				t.Errorf("no progress logged: %s", errOut)
			}
			tc.check(t, &r)
		})
	}
	t.Run("text", func(t *testing.T) {
		code, out, errOut := runCLI(t, "--broker", br.URL(), "--connections", "2", "--duration", "300ms", "--signals", "10")
		if code != 0 || !strings.Contains(out, "PUBACK ms") || !strings.Contains(out, "connections    2 held of 2") {
			t.Errorf("exit %d: %s%s", code, out, errOut)
		}
	})
}

func TestErrors(t *testing.T) {
	br := brokertest.Start(t, brokertest.Options{})
	creds := filepath.Join(t.TempDir(), "exists.yaml")
	if _, err := loadgen.WriteCredentials(creds, loadgen.CredentialsOptions{Vehicles: 1}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		desc string
		args []string
		code int
		want string
	}{
		{"help", []string{"--help"}, 0, "-connections int"},
		{"unknown flag", []string{"--nope"}, 2, "flag provided but not defined"},
		{"argument", []string{"extra"}, 2, `unexpected argument "extra"`},
		{"two passwords", []string{"--password", "a", "--credentials", "f"}, 2, "give one of"},
		{"two address sets", []string{"--loopback-addrs", "2", "--local-addrs", "127.0.0.1"}, 2, "not both"},
		{"dbc without drive", []string{"--dbc", "x.dbc"}, 2, "go with --drive"},
		{"bad option", []string{"--broker", br.URL(), "--rate", "-1"}, 2, "rate -1"},
		{"log level", []string{"--log-level", "loud"}, 2, "--log-level"},
		{"credentials exist", []string{"--broker", br.URL(), "--credentials", creds}, 1, "exists"},
		{"password file", []string{"--broker", br.URL(), "--password-file", "/nonexistent/pw"}, 1, "--password-file"},
		{"no broker", []string{"--broker", "127.0.0.1:1", "--connections", "2"}, 1, "no vehicle connected"},
		{"bad drive", []string{"--broker", br.URL(), "--drive", "nope.log", "--dbc", candumps + "/kanal_demo.dbc", "--mapping", candumps + "/kanal_demo.mapping.yaml"}, 1, "nope.log"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			code, out, errOut := runCLI(t, tc.args...)
			if code != tc.code || !strings.Contains(out+errOut, tc.want) {
				t.Errorf("exit %d (want %d), output lacks %q:\n%s%s", code, tc.code, tc.want, out, errOut)
			}
		})
	}
}

// TestFlags: every flag reaches its option.
func TestFlags(t *testing.T) {
	pwFile := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pwFile, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := parse([]string{"--broker", "mqtt://gw:1883", "--connections", "7", "--rate", "2.5", "--idle", "--duration", "3s",
		"--drain-timeout", "4s", "--vehicle-prefix", "vp", "--first-vehicle", "11", "--inflight", "9", "--connect-concurrency", "5",
		"--connect-rate", "50", "--connect-timeout", "6s", "--keepalive", "30s", "--writers", "3", "--payload", "encode",
		"--password-file", pwFile, "--local-addrs", "127.0.0.1,127.0.0.2", "--signals", "20", "--seconds", "4", "--seed", "9",
		"--json", "--progress", "0", "--log-level", "warn"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	o := c.opts
	if o.Broker != "mqtt://gw:1883" || o.Connections != 7 || o.Rate != 2.5 || !o.Idle || o.Duration != 3*time.Second ||
		o.DrainTimeout != 4*time.Second || o.VehiclePrefix != "vp" || o.FirstVehicle != 11 || o.Inflight != 9 ||
		o.ConnectConcurrency != 5 || o.ConnectRate != 50 || o.ConnectTimeout != 6*time.Second || o.KeepAlive != 30*time.Second ||
		o.Writers != 3 || o.Payload != loadgen.PayloadEncode || !c.asJSON || c.progress != 0 || c.logLevel != "warn" {
		t.Errorf("options %+v", o)
	}
	if err := c.complete(slog.New(slog.NewTextHandler(io.Discard, nil))); err != nil {
		t.Fatal(err)
	}
	if c.opts.Password == nil || c.opts.Password("vp-000011") != "s3cret" {
		t.Error("--password-file did not reach the logins")
	}
	if strings.Join(c.opts.LocalAddrs, " ") != "127.0.0.1 127.0.0.2" {
		t.Errorf("local addrs %v", c.opts.LocalAddrs)
	}
	if c.opts.Profile.Name != "synthetic, 20 signals" || len(c.opts.Profile.Seconds) != 4 {
		t.Errorf("profile %s with %d seconds", c.opts.Profile.Name, len(c.opts.Profile.Seconds))
	}
	c, err = parse([]string{"--loopback-addrs", "3", "--password", "x"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.complete(slog.New(slog.NewTextHandler(io.Discard, nil))); err != nil {
		t.Fatal(err)
	}
	if strings.Join(c.opts.LocalAddrs, " ") != "127.0.0.1 127.0.0.2 127.0.0.3" || c.opts.Password("any") != "x" {
		t.Errorf("loopback %v", c.opts.LocalAddrs)
	}
}

// TestInterrupt: a run stopped by its context prints the report so far
// and exits 1.
func TestInterrupt(t *testing.T) {
	br := brokertest.Start(t, brokertest.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(time.Second, cancel)
	var out, errOut bytes.Buffer
	code := run(ctx, []string{"--broker", br.URL(), "--connections", "5", "--duration", "1m", "--json", "--signals", "10"}, &out, &errOut)
	if code != 1 || !strings.Contains(errOut.String(), "context canceled") {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	var r loadgen.Report
	if err := json.Unmarshal(out.Bytes(), &r); err != nil || r.Published == 0 {
		t.Errorf("report %v: %s", err, out.String())
	}
}

// TestCredentialsWait: the pause for the gateway to reload the written
// credentials ends with the context, and the file is there before it.
func TestCredentialsWait(t *testing.T) {
	br := brokertest.Start(t, brokertest.Options{})
	creds := filepath.Join(t.TempDir(), "fleet.yaml")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan int, 1)
	var out, errOut bytes.Buffer
	go func() {
		done <- run(ctx, []string{"--broker", br.URL(), "--connections", "3", "--credentials", creds, "--credentials-wait", "1h"}, &out, &errOut)
	}()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if set, err := auth.Load(creds); err == nil && set.Len() == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no credentials file written")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	select {
	case code := <-done:
		if code != 1 {
			t.Errorf("exit %d: %s", code, errOut.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the wait did not end with the context")
	}
}
