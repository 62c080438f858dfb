package loadgen

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// testCtx is a context that ends before the test's own deadline, so a
// stuck run fails with a message instead of hanging.
func testCtx(t testing.TB, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// smallProfile is a profile that encodes quickly: 40 signals, 10 seconds.
func smallProfile(t testing.TB) *Profile {
	t.Helper()
	p, err := SyntheticProfile(SyntheticOptions{Signals: 40, Seconds: 10, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// run makes a generator with opts, connects, runs and closes it.
func run(t testing.TB, opts Options) *Report {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = quiet
	}
	g, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	ctx := testCtx(t, 60*time.Second)
	if err := g.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	rep, err := g.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}
