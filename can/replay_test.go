package can

import (
	"context"
	"errors"
	"io"
	"os"
	"strings"
	"testing"
	"time"
)

func timeAt(usec int64) time.Time { return time.UnixMicro(usec).UTC() }

func openString(s string) func() (Source, error) {
	return func() (Source, error) { return NewLogReader(strings.NewReader(s), LogReaderOptions{}), nil }
}

func drain(t *testing.T, ctx context.Context, src Source) []Timed {
	t.Helper()
	var out []Timed
	for {
		tf, err := src.Next(ctx)
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, tf)
	}
}

func TestReplayPacing(t *testing.T) {
	// 100 ms of log time, with one backwards jump that must not stall.
	log := "(10.000000) can0 001#\n(10.050000) can0 002#\n(9.000000) can0 003#\n(9.050000) can0 004#\n"
	r, err := NewReplay(ReplayOptions{Open: openString(log), Speed: 2})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	got := drain(t, context.Background(), r)
	elapsed := time.Since(start)
	if len(got) != 4 || got[2].Frame.ID != 3 {
		t.Fatalf("got %d frames: %+v", len(got), got)
	}
	// Two 50 ms gaps at speed 2 are 50 ms of waiting; the backwards jump adds none.
	if elapsed < 45*time.Millisecond {
		t.Fatalf("replay took %v, want at least 45ms of pacing", elapsed)
	}
	if got[0].Time != timeAt(10_000_000) {
		t.Fatalf("time not kept: %v", got[0].Time)
	}
}

func TestReplayMaxGapAndMap(t *testing.T) {
	log := "(1.000000) can0 001#\n(3601.000000) can1 002#\n(3601.000000) can0 003#\n"
	r, err := NewReplay(ReplayOptions{Open: openString(log), Speed: 1, MaxGap: 10 * time.Millisecond,
		Map: map[string]string{"can0": "vcan0"}, Restamp: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	before := time.Now()
	got := drain(t, ctx, r)
	if len(got) != 2 || got[0].Bus != "vcan0" || got[1].Frame.ID != 3 {
		t.Fatalf("got %+v", got)
	}
	if got[0].Time.Before(before) {
		t.Fatalf("Restamp: time %v is the log's", got[0].Time)
	}
}

func TestReplayLoopAndCancel(t *testing.T) {
	opens := 0
	open := func() (Source, error) {
		opens++
		return NewLogReader(strings.NewReader("(1.000000) can0 001#\n(1.000100) can0 002#\n"), LogReaderOptions{}), nil
	}
	r, err := NewReplay(ReplayOptions{Open: open, Loop: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	for i := range 10 {
		tf, err := r.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if want := uint32(i%2 + 1); tf.Frame.ID != want {
			t.Fatalf("frame %d id %d, want %d", i, tf.Frame.ID, want)
		}
	}
	if r.Passes() != 5 || opens != 5 {
		t.Fatalf("passes %d opens %d", r.Passes(), opens)
	}
	cancel()
	if _, err := r.Next(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("after cancel: %v", err)
	}

	// A paced replay waiting for a far frame returns when ctx ends.
	r, _ = NewReplay(ReplayOptions{Open: openString("(1.0) can0 001#\n(100.0) can0 002#\n"), Speed: 1})
	ctx, cancel = context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := r.Next(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Next(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("waiting replay: %v", err)
	}
	// An empty log with Loop ends instead of spinning.
	r, _ = NewReplay(ReplayOptions{Open: openString(""), Loop: true})
	if _, err := r.Next(context.Background()); err != io.EOF {
		t.Fatalf("empty looped log: %v", err)
	}
}

func TestParseBusMap(t *testing.T) {
	m, err := ParseBusMap([]string{"vcan0=can0", "vcan1=can1"})
	if err != nil || m["can0"] != "vcan0" || m["can1"] != "vcan1" {
		t.Fatalf("%v %v", m, err)
	}
	for _, bad := range [][]string{{"vcan0"}, {"=can0"}, {"vcan0="}, {"a=can0", "b=can0"}} {
		if _, err := ParseBusMap(bad); err == nil {
			t.Errorf("ParseBusMap(%q): want error", bad)
		}
	}
}

func TestRotatingLog(t *testing.T) {
	dir := t.TempDir()
	path := dir + "/rec.log"
	r, err := OpenRotatingLog(RotatingLogOptions{Path: path, MaxBytes: 100, Keep: 2})
	if err != nil {
		t.Fatal(err)
	}
	// Each line is 30 bytes: files hold 4 lines (120 >= 100 after the 4th).
	for i := range 20 {
		if err := r.Write(Timed{Time: timeAt(int64(i)), Bus: "can0", Frame: frame(uint32(i), 0)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"": "013#", ".1": "00F#", ".2": "00B#", ".3": ""} {
		data, err := os.ReadFile(path + name)
		if want == "" {
			if err == nil {
				t.Errorf("%s exists beyond Keep", path+name)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(string(data)), "\n")
		if last := lines[len(lines)-1]; !strings.HasSuffix(last, want) {
			t.Errorf("%s ends with %q, want %q", name, last, want)
		}
	}
}

// TestReplaySlack: frames due within the slack are released at once, so a
// slack longer than the log replays it without sleeping.
func TestReplaySlack(t *testing.T) {
	log := "(10.000000) can0 001#\n(15.000000) can0 002#\n(20.000000) can0 003#\n"
	r, err := NewReplay(ReplayOptions{Open: openString(log), Speed: 1, Slack: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if got := drain(t, ctx, r); len(got) != 3 { // drain fails the test on the deadline
		t.Fatalf("%d frames", len(got))
	}
}
