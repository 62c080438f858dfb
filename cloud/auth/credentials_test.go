package auth

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/kanal-dev/kanal/internal/await"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"golang.org/x/crypto/bcrypt"
)

// syncBuffer is a log sink that tests read while the code writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// openGood copies testdata/good.yaml to a temporary file and opens it.
func openGood(t testing.TB, opts Options) (*Credentials, string, *syncBuffer) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "creds.yaml")
	good, err := os.ReadFile("testdata/good.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, good, 0o600); err != nil {
		t.Fatal(err)
	}
	logs := new(syncBuffer)
	opts.File = path
	opts.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	c, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	return c, path, logs
}

func TestCheck(t *testing.T) {
	c, _, _ := openGood(t, Options{})
	for _, tc := range []struct {
		name, password string
		want           error
		role           Role
	}{
		{"veh-001", vehiclePassword, nil, RoleVehicle},
		{"city-traffic", trafficPassword, nil, RoleTraffic},
		{"ops", operatorPassword, nil, RoleOperator},
		{"veh-001", trafficPassword, ErrBadPassword, ""},
		{"veh-001", "", ErrBadPassword, ""},
		{"veh-001", strings.Repeat("x", 73), ErrBadPassword, ""},
		{"nobody", vehiclePassword, ErrUnknownUser, ""},
		{"", "", ErrUnknownUser, ""},
	} {
		t.Run(tc.name+"/"+tc.password, func(t *testing.T) {
			u, err := c.Check(tc.name, tc.password)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Check = %v, want %v", err, tc.want)
			}
			if u.Role != tc.role || tc.want == nil && u.Name != tc.name {
				t.Errorf("user %+v, want role %q", u, tc.role)
			}
			if _, ok := c.Verify(tc.name, tc.password); ok != (tc.want == nil) {
				t.Errorf("Verify = %v", ok)
			}
		})
	}
}

func TestCheckCache(t *testing.T) {
	c, path, _ := openGood(t, Options{})
	count := func(result string) float64 { return testutil.ToFloat64(c.m.verifications.WithLabelValues(result)) }
	for range 5 {
		if _, err := c.Check("veh-001", vehiclePassword); err != nil {
			t.Fatal(err)
		}
	}
	if count("hashed") != 1 || count("cached") != 4 {
		t.Errorf("hashed %v cached %v, want 1 and 4", count("hashed"), count("cached"))
	}
	// A wrong password is never served from the cache, and does not evict.
	if _, err := c.Check("veh-001", vehiclePassword+"x"); !errors.Is(err, ErrBadPassword) {
		t.Fatalf("wrong password: %v", err)
	}
	if _, err := c.Check("veh-001", vehiclePassword); err != nil || count("cached") != 5 {
		t.Fatalf("after a wrong try: %v, cached %v", err, count("cached"))
	}
	// A new password (new hash) makes the old one fail at once.
	newPw, err := AddUser(path, "veh-001", RoleVehicle, AddOptions{Replace: true, Cost: 4})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Reload(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Check("veh-001", vehiclePassword); !errors.Is(err, ErrBadPassword) {
		t.Errorf("old password after rotation: %v", err)
	}
	if _, err := c.Check("veh-001", newPw); err != nil {
		t.Errorf("new password: %v", err)
	}
	// A removed user is refused at once.
	if err := RemoveUser(path, "veh-001"); err != nil {
		t.Fatal(err)
	}
	c.Reload()
	if _, err := c.Check("veh-001", newPw); !errors.Is(err, ErrUnknownUser) {
		t.Errorf("removed user: %v", err)
	}
	c.mu.Lock()
	n := len(c.cache)
	c.mu.Unlock()
	if n != 0 {
		t.Errorf("%d cache entries after the user was removed", n)
	}
}

func TestCheckCacheOff(t *testing.T) {
	c, _, _ := openGood(t, Options{CacheTTL: -1})
	for range 3 {
		c.Check("ops", operatorPassword)
	}
	if got := testutil.ToFloat64(c.m.verifications.WithLabelValues("hashed")); got != 3 {
		t.Errorf("hashed %v, want 3 with the cache off", got)
	}
}

func TestCheckCacheExpires(t *testing.T) {
	c, _, _ := openGood(t, Options{CacheTTL: time.Nanosecond})
	c.Check("ops", operatorPassword)
	time.Sleep(time.Millisecond)
	c.Check("ops", operatorPassword)
	if got := testutil.ToFloat64(c.m.verifications.WithLabelValues("hashed")); got != 2 {
		t.Errorf("hashed %v, want 2 after the entry expired", got)
	}
}

func TestCheckBusy(t *testing.T) {
	c, _, _ := openGood(t, Options{MaxHashers: 1, HashWait: 20 * time.Millisecond})
	c.hashers <- struct{}{} // every hasher taken
	if _, err := c.Check("ops", operatorPassword); !errors.Is(err, ErrBusy) {
		t.Fatalf("Check with no free hasher: %v, want ErrBusy", err)
	}
	<-c.hashers
	if _, err := c.Check("ops", operatorPassword); err != nil {
		t.Fatal(err)
	}
	c.hashers <- struct{}{}
	if _, err := c.Check("ops", operatorPassword); err != nil {
		t.Errorf("a cached login needs no hasher: %v", err)
	}
	<-c.hashers
}

func TestReloadKeepsOldOnMistake(t *testing.T) {
	reg := prometheus.NewRegistry()
	c, path, logs := openGood(t, Options{Registerer: reg})
	var got []*Set
	c.OnReload(func(s *Set) { got = append(got, s) })
	cancelled := 0
	cancel := c.OnReload(func(*Set) { cancelled++ })
	cancel()
	os.WriteFile(path, []byte("version: 1\nusers:\n  - name: veh-001\n    role: vehicle\n    bcrypt: nothash\n"), 0o600)
	err := c.Reload()
	if err == nil || !strings.Contains(err.Error(), ":5:13: bcrypt: not a bcrypt hash") {
		t.Fatalf("Reload of a bad file: %v", err)
	}
	if _, err := c.Check("ops", operatorPassword); err != nil {
		t.Errorf("old users lost: %v", err)
	}
	if len(got) != 0 {
		t.Error("OnReload called for a failed reload")
	}
	if !strings.Contains(logs.String(), "credentials not reloaded") {
		t.Errorf("failure not logged:\n%s", logs)
	}
	if v := testutil.ToFloat64(c.m.reloads.WithLabelValues("error")); v != 1 {
		t.Errorf("reloads{error} = %v", v)
	}
	os.WriteFile(path, []byte("version: 1\nusers: []\n"), 0o600)
	if err := c.Reload(); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Len() != 0 {
		t.Errorf("OnReload got %v", got)
	}
	if cancelled != 0 {
		t.Error("an unregistered OnReload function was called")
	}
	if _, err := c.Check("ops", operatorPassword); !errors.Is(err, ErrUnknownUser) {
		t.Errorf("after an emptying reload: %v", err)
	}
	if v := testutil.ToFloat64(c.m.users.WithLabelValues("operator")); v != 0 {
		t.Errorf("users{operator} = %v", v)
	}
	if n, err := testutil.GatherAndCount(reg, "kanal_auth_users", "kanal_auth_reloads_total"); err != nil || n != 5 {
		t.Errorf("registered series %d, %v", n, err)
	}
}

func TestOpenErrors(t *testing.T) {
	if _, err := Open(Options{}); err == nil || !strings.Contains(err.Error(), "file: missing") {
		t.Errorf("no file: %v", err)
	}
	if _, err := Open(Options{File: filepath.Join(t.TempDir(), "none")}); err == nil {
		t.Error("missing file opened")
	}
	if _, err := Open(Options{File: "testdata/mistakes.yaml"}); err == nil || !strings.Contains(err.Error(), "mistakes.yaml:1:10") {
		t.Errorf("bad file: %v", err)
	}
	if _, err := Open(Options{File: "testdata/good.yaml", MaxHashers: -1}); err == nil || !strings.Contains(err.Error(), "max_hashers") {
		t.Errorf("max_hashers: %v", err)
	}
	if _, err := Open(Options{File: "testdata/good.yaml", HashWait: -1}); err == nil || !strings.Contains(err.Error(), "hash_wait") {
		t.Errorf("hash_wait: %v", err)
	}
	reg := prometheus.NewRegistry()
	if _, err := Open(Options{File: "testdata/good.yaml", Registerer: reg}); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(Options{File: "testdata/good.yaml", Registerer: reg}); err == nil || !strings.Contains(err.Error(), "register metrics") {
		t.Errorf("second registration: %v", err)
	}
}

// run starts c.Run and stops it when the test ends.
func run(t *testing.T, c *Credentials) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { c.Run(ctx); close(done) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Error("Run did not return")
		}
	})
}

func TestRunPollsFile(t *testing.T) {
	c, path, logs := openGood(t, Options{Poll: 10 * time.Millisecond})
	run(t, c)
	pw, err := AddUser(path, "veh-new", RoleVehicle, AddOptions{Cost: 4})
	if err != nil {
		t.Fatal(err)
	}
	await.Until(t, 5*time.Second, "new user seen", func() bool { _, ok := c.Verify("veh-new", pw); return ok })

	// A broken file keeps the users and is logged once, not at every poll.
	// (Written by rename: os.WriteFile in place could be polled half
	// written, which is a second broken file, rightly logged again.)
	tmp := path + ".tmp"
	os.WriteFile(tmp, []byte("version: 7\n"), 0o600)
	os.Rename(tmp, path)
	await.Until(t, 5*time.Second, "failure logged", func() bool { return strings.Contains(logs.String(), "credentials not reloaded") })
	time.Sleep(100 * time.Millisecond) // ten more polls
	if n := strings.Count(logs.String(), "credentials not reloaded"); n != 1 {
		t.Errorf("the broken file was logged %d times", n)
	}
	if _, ok := c.Verify("veh-new", pw); !ok {
		t.Error("users lost to a broken file")
	}
	// A missing file too.
	os.Remove(path)
	await.Until(t, 5*time.Second, "missing file logged", func() bool { return strings.Contains(logs.String(), "credentials file unreadable") })
	time.Sleep(50 * time.Millisecond)
	if n := strings.Count(logs.String(), "credentials file unreadable"); n != 1 {
		t.Errorf("the missing file was logged %d times", n)
	}
	// Fixed again: picked up.
	pw2, err := AddUser(path, "veh-back", RoleVehicle, AddOptions{Cost: 4})
	if err != nil {
		t.Fatal(err)
	}
	await.Until(t, 5*time.Second, "fixed file loaded", func() bool { _, ok := c.Verify("veh-back", pw2); return ok })
	if _, ok := c.Lookup("veh-new"); ok {
		t.Error("the recreated file has only veh-back")
	}
	for _, p := range []string{pw, pw2, vehiclePassword} {
		if strings.Contains(logs.String(), p) {
			t.Fatal("a password is in the logs")
		}
	}
}

func TestRunSIGHUP(t *testing.T) {
	// The test's own handler keeps a SIGHUP sent before Run's handler is
	// installed from killing the test binary.
	guard := make(chan os.Signal, 16)
	signal.Notify(guard, syscall.SIGHUP)
	defer signal.Stop(guard)
	c, path, logs := openGood(t, Options{Poll: -1})
	run(t, c)
	pw, err := AddUser(path, "veh-hup", RoleVehicle, AddOptions{Cost: 4})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	if _, ok := c.Lookup("veh-hup"); ok {
		t.Fatal("reloaded with polling off and no signal")
	}
	// Run may not have installed its handler yet: signal until the reload shows.
	await.Until(t, 5*time.Second, "reload on SIGHUP", func() bool {
		syscall.Kill(os.Getpid(), syscall.SIGHUP)
		time.Sleep(20 * time.Millisecond)
		_, ok := c.Verify("veh-hup", pw)
		return ok
	})
	if !strings.Contains(logs.String(), "SIGHUP") {
		t.Errorf("no log of the signal:\n%s", logs)
	}
}

func TestLoginValid(t *testing.T) {
	c, path, _ := openGood(t, Options{})
	veh, err := c.Login("veh-001", vehiclePassword)
	if err != nil {
		t.Fatal(err)
	}
	ops, err := c.Login("ops", operatorPassword)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := c.Login("city-traffic", trafficPassword)
	if err != nil {
		t.Fatal(err)
	}
	if veh.Name != "veh-001" || veh.Role != RoleVehicle {
		t.Errorf("login %+v", veh.User)
	}
	if !c.Snapshot().Valid(veh) || !c.Snapshot().Valid(ops) {
		t.Fatal("fresh logins not valid")
	}
	AddUser(path, "veh-001", RoleVehicle, AddOptions{Replace: true, Cost: 4}) // new password
	RemoveUser(path, "ops")
	// Same password hash, new role: a file edited by hand.
	data, _ := os.ReadFile(path)
	os.WriteFile(path, []byte(strings.Replace(string(data), "role: traffic", "role: operator", 1)), 0o600)
	if err := c.Reload(); err != nil {
		t.Fatal(err)
	}
	s := c.Snapshot()
	if s.Valid(veh) || s.Valid(ops) || s.Valid(svc) {
		t.Errorf("valid after rotation %v, removal %v, role change %v", s.Valid(veh), s.Valid(ops), s.Valid(svc))
	}
	if s.Valid(Login{}) {
		t.Error("the zero Login is valid")
	}
}

// TestVerifyUnknownCostsAHash: Verify spends a bcrypt verification on an
// unknown name as on a wrong password (timing), Check does not: with the
// only hasher held, Verify waits for it and Check does not.
func TestVerifyUnknownCostsAHash(t *testing.T) {
	c, _, _ := openGood(t, Options{MaxHashers: 1, HashWait: time.Hour})
	c.hashers <- struct{}{}
	checked := make(chan error, 1)
	go func() { _, err := c.Check("nobody", "x"); checked <- err }()
	select {
	case err := <-checked:
		if !errors.Is(err, ErrUnknownUser) {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Check of an unknown name waits for a hasher")
	}
	verified := make(chan bool, 1)
	go func() { _, ok := c.Verify("nobody", "x"); verified <- ok }()
	select {
	case <-verified:
		t.Fatal("Verify of an unknown name did not wait for a hasher")
	case <-time.After(50 * time.Millisecond):
	}
	<-c.hashers
	select {
	case ok := <-verified:
		if ok {
			t.Fatal("unknown user verified")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Verify did not return once a hasher was free")
	}
	if bcrypt.CompareHashAndPassword(c.dummy, []byte("x")) == nil {
		t.Error("the dummy hash verifies a password")
	}
}
