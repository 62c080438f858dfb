package auth

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/crypto/bcrypt"
)

// Defaults of Options.
const (
	DefaultPoll     = time.Second
	DefaultCacheTTL = time.Hour
	DefaultHashWait = 5 * time.Second
)

// Options configures Open.
type Options struct {
	// File is the credentials file (required).
	File string `yaml:"file"`
	// Poll is how often Run looks at the file's modification time, size
	// and inode for a change (default 1 s; negative: only Reload and
	// SIGHUP reload it). Polling needs no module beyond the standard
	// library and sees an editor's rename as well as an in-place write.
	Poll time.Duration `yaml:"poll"`
	// CacheTTL is how long a successful verification is remembered
	// (default 1 h; negative: never), so that reconnects cost no bcrypt.
	// An entry holds an HMAC of the password under a key made at Open,
	// never the password, and counts only while the user's hash is the
	// one it was verified against.
	CacheTTL time.Duration `yaml:"cache_ttl"`
	// MaxHashers bounds the bcrypt verifications running at once (default
	// half the CPUs, at least 1): a login storm then leaves the other
	// cores to the traffic.
	MaxHashers int `yaml:"max_hashers"`
	// HashWait is how long a login waits for a free hasher before it is
	// refused with ErrBusy (default 5 s), which the broker answers with
	// "server busy" so the client retries later.
	HashWait time.Duration `yaml:"hash_wait"`
	// Logger gets reloads and their failures (default slog.Default()).
	Logger *slog.Logger `yaml:"-"`
	// Registerer registers the metrics (nil: not registered).
	Registerer prometheus.Registerer `yaml:"-"`
}

func (o *Options) setDefaults() error {
	if o.File == "" {
		return errors.New("credentials: file: missing")
	}
	if o.Poll == 0 {
		o.Poll = DefaultPoll
	}
	if o.CacheTTL == 0 {
		o.CacheTTL = DefaultCacheTTL
	}
	switch {
	case o.MaxHashers == 0:
		o.MaxHashers = max(1, runtime.GOMAXPROCS(0)/2)
	case o.MaxHashers < 0:
		return fmt.Errorf("credentials: max_hashers %d: want at least 1", o.MaxHashers)
	}
	switch {
	case o.HashWait == 0:
		o.HashWait = DefaultHashWait
	case o.HashWait < 0:
		return fmt.Errorf("credentials: hash_wait %v: want more than 0", o.HashWait)
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return nil
}

// Reasons Check refuses a login.
var (
	ErrUnknownUser = errors.New("unknown user")
	ErrBadPassword = errors.New("wrong password")
	ErrBusy        = errors.New("too many logins at once")
)

// Credentials are the users of a credentials file, kept current: Reload
// and Run reread the file, and a file with mistakes keeps the users read
// before it. Safe for concurrent use.
type Credentials struct {
	opts    Options
	log     *slog.Logger
	m       *metrics
	set     atomic.Pointer[Set]
	key     []byte        // HMAC key of the cache, random per process
	dummy   []byte        // the bcrypt hash an unknown name is verified against (Verify)
	hashers chan struct{} // semaphore of bcrypt verifications

	mu    sync.Mutex
	cache map[string]cached // by user name: at most one entry per user

	reload   sync.Mutex // serializes reloads; guards the fields below
	seen     fileSig    // the file as last loaded
	failed   fileSig    // the file as it last failed to load
	watchers map[int]func(*Set)
	nextID   int
}

type cached struct {
	sum   [sha256.Size]byte
	hash  string
	until time.Time
}

// Open reads the credentials file: it must exist and be free of mistakes.
func Open(opts Options) (*Credentials, error) {
	if err := opts.setDefaults(); err != nil {
		return nil, err
	}
	m, err := newMetrics(opts.Registerer)
	if err != nil {
		return nil, err
	}
	c := &Credentials{
		opts:    opts,
		log:     opts.Logger,
		m:       m,
		key:     make([]byte, 32),
		hashers: make(chan struct{}, opts.MaxHashers),
		cache:   make(map[string]cached),
	}
	rand.Read(c.key)
	dummy, err := Hash(NewPassword(), DefaultCost)
	if err != nil {
		return nil, err
	}
	c.dummy = []byte(dummy)
	if err := c.Reload(); err != nil {
		return nil, err
	}
	return c, nil
}

// Snapshot returns the users as currently loaded.
func (c *Credentials) Snapshot() *Set { return c.set.Load() }

// Lookup returns the user called name.
func (c *Credentials) Lookup(name string) (User, bool) { return c.set.Load().Lookup(name) }

// Verify reports whether password is name's, for callers that need no
// reason: the HTTP API's bearer tokens and basic auth (see VerifyRequest).
// An unknown name costs a bcrypt verification too (against a hash made at
// Open), so that a caller cannot tell unknown names from wrong passwords
// by the time taken. (Login does not pay that: MQTT user names are vehicle
// ids, which are in the topics anyway, and a fleet of retired vehicles
// still knocking should not keep the hashers busy.)
func (c *Credentials) Verify(name, password string) (User, bool) {
	u, err := c.Check(name, password)
	if errors.Is(err, ErrUnknownUser) && c.acquire() {
		bcrypt.CompareHashAndPassword(c.dummy, []byte(password))
		<-c.hashers
	}
	return u, err == nil
}

// acquire takes a hasher, waiting at most HashWait.
func (c *Credentials) acquire() bool {
	select {
	case c.hashers <- struct{}{}:
		return true
	default: // all busy: wait, but not forever
		wait := time.NewTimer(c.opts.HashWait)
		defer wait.Stop()
		select {
		case c.hashers <- struct{}{}:
			return true
		case <-wait.C:
			return false
		}
	}
}

// Check verifies name's password and says why it refuses: ErrUnknownUser,
// ErrBadPassword or ErrBusy. A login verified in the last CacheTTL against
// the same hash costs an HMAC instead of bcrypt.
func (c *Credentials) Check(name, password string) (User, error) {
	l, err := c.Login(name, password)
	return l.User, err
}

// Login is a verified password: the user, and a stamp of the hash it was
// verified against, so that a later Set can tell whether it still holds
// (Set.Valid). The stamp never leaves this package.
type Login struct {
	User
	hash string
}

// Valid reports whether the login still holds in s: false once its user
// was removed or given a new password or role. The broker disconnects
// such users when the file is reloaded.
func (s *Set) Valid(l Login) bool {
	e, ok := s.users[l.Name]
	return ok && e.hash == l.hash && e.role == l.Role
}

// Login verifies name's password as Check does and returns the login.
func (c *Credentials) Login(name, password string) (Login, error) {
	s := c.set.Load()
	e, ok := s.users[name]
	if !ok {
		c.m.verifications.WithLabelValues("unknown_user").Inc()
		return Login{}, ErrUnknownUser
	}
	u := Login{User{Name: name, Role: e.role}, e.hash}
	if password == "" || len(password) > maxPassword {
		c.m.verifications.WithLabelValues("bad_password").Inc()
		return Login{}, ErrBadPassword
	}
	mac := hmac.New(sha256.New, c.key)
	mac.Write([]byte(password))
	var sum [sha256.Size]byte
	mac.Sum(sum[:0])
	now := time.Now()
	if c.opts.CacheTTL > 0 {
		c.mu.Lock()
		ce, hit := c.cache[name]
		c.mu.Unlock()
		if hit && ce.hash == e.hash && now.Before(ce.until) && hmac.Equal(ce.sum[:], sum[:]) {
			c.m.verifications.WithLabelValues("cached").Inc()
			return u, nil
		}
	}
	if !c.acquire() {
		c.m.verifications.WithLabelValues("busy").Inc()
		return Login{}, ErrBusy
	}
	err := bcrypt.CompareHashAndPassword([]byte(e.hash), []byte(password))
	<-c.hashers
	if err != nil {
		c.m.verifications.WithLabelValues("bad_password").Inc()
		return Login{}, ErrBadPassword
	}
	c.m.verifications.WithLabelValues("hashed").Inc()
	if c.opts.CacheTTL > 0 {
		c.mu.Lock()
		c.cache[name] = cached{sum: sum, hash: e.hash, until: now.Add(c.opts.CacheTTL)}
		c.mu.Unlock()
	}
	return u, nil
}

// OnReload registers fn to be called with the new users after every
// successful reload (not the first load in Open), in the goroutine that
// reloaded, and returns the function that unregisters it. The broker uses
// it to disconnect users who were removed or whose password or role
// changed (see Set.Valid).
func (c *Credentials) OnReload(fn func(*Set)) (cancel func()) {
	c.reload.Lock()
	defer c.reload.Unlock()
	if c.watchers == nil {
		c.watchers = make(map[int]func(*Set))
	}
	id := c.nextID
	c.nextID++
	c.watchers[id] = fn
	return func() {
		c.reload.Lock()
		delete(c.watchers, id)
		c.reload.Unlock()
	}
}

// Reload rereads the file. On a mistake it keeps the users it had, logs
// the mistake and returns it.
func (c *Credentials) Reload() error {
	c.reload.Lock()
	defer c.reload.Unlock()
	sig, _ := statFile(c.opts.File) // taken before reading: a write during the read is seen next poll
	s, err := Load(c.opts.File)
	if err != nil {
		c.failed = sig
		if c.set.Load() != nil {
			c.m.reloads.WithLabelValues("error").Inc()
			c.log.Error("credentials not reloaded: keeping the users loaded before", "file", c.opts.File, "users", c.set.Load().Len(), "error", err)
		}
		return err
	}
	first := c.set.Load() == nil
	c.set.Store(s)
	c.seen, c.failed = sig, fileSig{}
	c.prune(s)
	counts := make(map[Role]int)
	for _, e := range s.users {
		counts[e.role]++
	}
	for _, r := range Roles {
		c.m.users.WithLabelValues(string(r)).Set(float64(counts[r]))
	}
	if first {
		c.log.Info("credentials loaded", "file", c.opts.File, "users", s.Len())
		return nil
	}
	c.m.reloads.WithLabelValues("ok").Inc()
	c.log.Info("credentials reloaded", "file", c.opts.File, "users", s.Len())
	for _, fn := range c.watchers {
		fn(s)
	}
	return nil
}

// prune drops cache entries of users that are gone or have a new hash.
func (c *Credentials) prune(s *Set) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for name, ce := range c.cache {
		if e, ok := s.users[name]; !ok || e.hash != ce.hash {
			delete(c.cache, name)
		}
	}
}

// Run reloads the file when it changes (polled every Options.Poll) and on
// SIGHUP, until ctx is done. A file that failed to load is retried when it
// changes again, not at every poll, so a broken file is logged once.
func (c *Credentials) Run(ctx context.Context) error {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	var tick <-chan time.Time
	if c.opts.Poll > 0 {
		t := time.NewTicker(c.opts.Poll)
		defer t.Stop()
		tick = t.C
	}
	gone := false // the file was missing at the last poll (logged once)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-hup:
			c.log.Info("SIGHUP: reloading credentials", "file", c.opts.File)
			c.Reload()
		case <-tick:
			sig, err := statFile(c.opts.File)
			if err != nil {
				if !gone {
					c.log.Error("credentials file unreadable: keeping the users loaded before", "file", c.opts.File, "error", err)
				}
				gone = true
				continue
			}
			gone = false
			c.reload.Lock()
			changed := sig != c.seen && sig != c.failed
			c.reload.Unlock()
			if changed {
				c.Reload()
			}
		}
	}
}

// fileSig is what polling compares: a rename gives a new inode, a write a
// new modification time or size.
type fileSig struct {
	dev, ino uint64
	size     int64
	mtime    int64
}

// statFile returns the file's signature, or a zero one with the error.
func statFile(path string) (fileSig, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return fileSig{}, err
	}
	sig := fileSig{size: fi.Size(), mtime: fi.ModTime().UnixNano()}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		sig.dev, sig.ino = uint64(st.Dev), st.Ino
	}
	return sig, nil
}
