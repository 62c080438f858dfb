package spool

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
)

// quiet is the logger of tests that do not look at the logs.
var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// open opens a spool in dir with opts (Dir and Logger filled in) and closes
// it at the end of the test.
func open(t testing.TB, dir string, opts Options) *Spool {
	t.Helper()
	opts.Dir = dir
	if opts.Logger == nil {
		opts.Logger = quiet
	}
	s, err := Open(opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// payload is the deterministic content of the n-th test batch, of a size
// that varies with n so records do not line up with anything.
func payload(n uint64, size int) []byte {
	r := rand.New(rand.NewPCG(n, 0x5eed))
	b := make([]byte, size+int(n%17))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// appendN appends n batches of about size bytes and returns them.
func appendN(t testing.TB, s *Spool, n, size int, prio func(i int) bool) []Record {
	t.Helper()
	var out []Record
	for i := range n {
		p := prio != nil && prio(i)
		r, err := s.Append(payload(uint64(len(out)+1)*1000+uint64(i), size), p)
		if err != nil {
			t.Fatalf("Append %d: %v", i, err)
		}
		out = append(out, r)
	}
	return out
}

// drain returns every queued record, in order, without acking. Next with
// a context already done still returns what is queued, and only then the
// context's error.
func drain(t testing.TB, s *Spool) []Record {
	t.Helper()
	var out []Record
	after := uint64(0)
	done, cancel := context.WithCancel(context.Background())
	cancel()
	for {
		r, err := s.Next(done, after)
		if errors.Is(err, context.Canceled) {
			return out
		}
		if err != nil {
			t.Fatalf("Next after %d: %v", after, err)
		}
		out = append(out, r)
		after = r.ID
	}
}

// ids returns the ids of rs.
func ids(rs []Record) []uint64 {
	out := make([]uint64, len(rs))
	for i, r := range rs {
		out[i] = r.ID
	}
	return out
}

// sameRecords fails the test unless got has exactly want's ids, bytes,
// priorities and append times, in order.
func sameRecords(t testing.TB, got, want []Record) {
	t.Helper()
	if !slices.Equal(ids(got), ids(want)) {
		t.Fatalf("ids %v, want %v", ids(got), ids(want))
	}
	for i := range got {
		g, w := got[i], want[i]
		if !bytes.Equal(g.Data, w.Data) || g.Priority != w.Priority || !g.Appended.Equal(w.Appended) {
			t.Fatalf("record %d: got %d bytes prio %v at %v, want %d bytes prio %v at %v",
				g.ID, len(g.Data), g.Priority, g.Appended, len(w.Data), w.Priority, w.Appended)
		}
	}
}

// without returns rs minus the records whose ids are in drop.
func without(rs []Record, drop ...uint64) []Record {
	var out []Record
	for _, r := range rs {
		if !slices.Contains(drop, r.ID) {
			out = append(out, r)
		}
	}
	return out
}

// segFiles returns the segment files in dir, oldest first.
func segFiles(t testing.TB, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*"+segExt))
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(m)
	return m
}

// dirBytes is the size of the spool's segment and ack files as the file
// system sees them.
func dirBytes(t testing.TB, dir string) int64 {
	t.Helper()
	var n int64
	for _, ext := range []string{segExt, ackExt} {
		m, _ := filepath.Glob(filepath.Join(dir, "*"+ext))
		for _, p := range m {
			fi, err := os.Stat(p)
			if err != nil {
				t.Fatal(err)
			}
			n += fi.Size()
		}
	}
	return n
}

// logRecorder is a slog handler that keeps the messages it gets.
type logRecorder struct {
	mu   sync.Mutex
	msgs []string
}

func (l *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (l *logRecorder) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.msgs = append(l.msgs, r.Message)
	return nil
}
func (l *logRecorder) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logRecorder) WithGroup(string) slog.Handler      { return l }

// count returns how many messages were msg.
func (l *logRecorder) count(msg string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, m := range l.msgs {
		if m == msg {
			n++
		}
	}
	return n
}
