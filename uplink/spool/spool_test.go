package spool

import (
	"bytes"
	"context"
	"errors"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestAppendNextAck(t *testing.T) {
	s := open(t, t.TempDir(), Options{})
	want := appendN(t, s, 10, 200, func(i int) bool { return i%3 == 0 })
	for i, r := range want {
		if r.ID != uint64(i+1) {
			t.Fatalf("record %d has id %d, want %d", i, r.ID, i+1)
		}
	}
	sameRecords(t, drain(t, s), want)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, w := range want {
		r, err := s.Next(ctx, 0)
		if err != nil {
			t.Fatal(err)
		}
		if r.ID != w.ID {
			t.Fatalf("Next(0) = %d, want %d: acked records must not come back", r.ID, w.ID)
		}
		if err := s.Ack(r.ID); err != nil {
			t.Fatalf("Ack %d: %v", r.ID, err)
		}
	}
	st := s.Stats()
	if st.Records != 0 || st.Bytes != 0 || st.Appended != 10 || st.Acked != 10 || !st.Oldest.IsZero() {
		t.Errorf("after acking all: %+v", st)
	}
}

func TestAckOutOfOrder(t *testing.T) {
	tests := []struct {
		name string
		acks []uint64
	}{
		{"reverse", []uint64{8, 7, 6, 5, 4, 3, 2, 1}},
		{"evens first", []uint64{2, 4, 6, 8}},
		{"middle", []uint64{4, 5}},
		{"last only", []uint64{8}},
		{"twice", []uint64{3, 3, 1, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			s := open(t, dir, Options{MaxBytes: 1 << 20, SegmentBytes: 1 << 10, Fsync: FsyncNone})
			all := appendN(t, s, 8, 300, nil) // about three records per segment
			for _, id := range tt.acks {
				if err := s.Ack(id); err != nil {
					t.Fatalf("Ack %d: %v", id, err)
				}
			}
			want := without(all, tt.acks...)
			sameRecords(t, drain(t, s), want)
			if st := s.Stats(); st.Records != len(want) {
				t.Errorf("Stats.Records = %d, want %d", st.Records, len(want))
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			s = open(t, dir, Options{MaxBytes: 1 << 20, SegmentBytes: 1 << 10, Fsync: FsyncNone})
			sameRecords(t, drain(t, s), want)
		})
	}
}

func TestAckUnknown(t *testing.T) {
	s := open(t, t.TempDir(), Options{})
	appendN(t, s, 2, 10, nil)
	for _, id := range []uint64{0, 3, 1 << 40} {
		if err := s.Ack(id); !errors.Is(err, ErrNotFound) {
			t.Errorf("Ack(%d) = %v, want ErrNotFound", id, err)
		}
	}
	if err := s.Ack(1); err != nil {
		t.Fatal(err)
	}
	if err := s.Ack(1); err != nil {
		t.Errorf("second Ack(1) = %v, want nil (a late duplicate PUBACK)", err)
	}
}

func TestReopen(t *testing.T) {
	for _, policy := range []FsyncPolicy{FsyncBatch, FsyncInterval, FsyncNone} {
		t.Run(string(policy), func(t *testing.T) {
			dir := t.TempDir()
			opts := Options{MaxBytes: 1 << 20, SegmentBytes: 2 << 10, Fsync: policy}
			s := open(t, dir, opts)
			all := appendN(t, s, 30, 150, func(i int) bool { return i%5 == 0 })
			acked := []uint64{1, 2, 3, 10, 17, 30}
			for _, id := range acked {
				if err := s.Ack(id); err != nil {
					t.Fatal(err)
				}
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}

			s = open(t, dir, opts)
			want := without(all, acked...)
			sameRecords(t, drain(t, s), want)
			st := s.Stats()
			if st.Corrupt != 0 || st.TornTails != 0 {
				t.Errorf("clean close reported damage: %+v", st)
			}
			r, err := s.Append([]byte("after reopen"), false)
			if err != nil {
				t.Fatal(err)
			}
			if r.ID != 31 {
				t.Errorf("first id after reopen = %d, want 31", r.ID)
			}
		})
	}
}

// Ids keep increasing when every record is acked and every segment file but
// the active one deleted: the active segment's header carries the floor.
func TestIDsIncreaseAcrossEmptySpool(t *testing.T) {
	dir := t.TempDir()
	opts := Options{MaxBytes: 1 << 20, SegmentBytes: 1 << 10, Fsync: FsyncNone}
	last := uint64(0)
	for round := range 4 {
		s := open(t, dir, opts)
		for _, r := range appendN(t, s, 7, 300, nil) {
			if r.ID <= last {
				t.Fatalf("round %d: id %d after %d", round, r.ID, last)
			}
			last = r.ID
			if err := s.Ack(r.ID); err != nil {
				t.Fatal(err)
			}
		}
		if n := len(segFiles(t, dir)); n != 1 {
			t.Errorf("round %d: %d segment files with everything acked, want only the active one", round, n)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestSegmentsDeletedWhenAcked(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, Options{MaxBytes: 1 << 20, SegmentBytes: 1 << 10, Fsync: FsyncNone})
	all := appendN(t, s, 20, 300, nil)
	if n := len(segFiles(t, dir)); n < 5 {
		t.Fatalf("%d segments, want several", n)
	}
	for _, r := range all[:len(all)-1] {
		if err := s.Ack(r.ID); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(segFiles(t, dir)); n > 2 {
		t.Errorf("%d segment files after acking all but the last record, want at most 2", n)
	}
	if got, want := s.Stats().DiskBytes, dirBytes(t, dir); got != want {
		t.Errorf("Stats.DiskBytes = %d, files hold %d", got, want)
	}
}

func TestNextBlocks(t *testing.T) {
	t.Run("wakes on append", func(t *testing.T) {
		s := open(t, t.TempDir(), Options{})
		got := make(chan Record, 1)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		go func() {
			r, err := s.Next(ctx, 0)
			if err != nil {
				t.Error(err)
			}
			got <- r
		}()
		time.Sleep(20 * time.Millisecond) // let it wait; the test holds without this
		want, err := s.Append([]byte("hello"), true)
		if err != nil {
			t.Fatal(err)
		}
		if r := <-got; r.ID != want.ID || string(r.Data) != "hello" || !r.Priority {
			t.Errorf("Next woke with %+v, want %+v", r, want)
		}
	})
	t.Run("skips what it has seen", func(t *testing.T) {
		s := open(t, t.TempDir(), Options{})
		appendN(t, s, 3, 10, nil)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
		defer cancel()
		if r, err := s.Next(ctx, 3); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Next(3) with ids 1..3 = %v, %v; want to wait", r.ID, err)
		}
	})
	t.Run("ctx cancel", func(t *testing.T) {
		s := open(t, t.TempDir(), Options{})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			_, err := s.Next(ctx, 0)
			done <- err
		}()
		cancel()
		select {
		case err := <-done:
			if !errors.Is(err, context.Canceled) {
				t.Errorf("Next = %v, want context.Canceled", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("Next did not return after cancel")
		}
	})
	t.Run("close", func(t *testing.T) {
		s := open(t, t.TempDir(), Options{})
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		done := make(chan error, 1)
		go func() {
			_, err := s.Next(ctx, 0)
			done <- err
		}()
		time.Sleep(20 * time.Millisecond)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if err := <-done; !errors.Is(err, ErrClosed) {
			t.Errorf("Next = %v, want ErrClosed", err)
		}
	})
}

// The batcher appends while the publisher sends and acks, several in
// flight, out of order: every batch arrives once, in order, and the spool
// ends empty. Run with -race.
func TestConcurrentAppendNextAck(t *testing.T) {
	for _, policy := range []FsyncPolicy{FsyncNone, FsyncInterval} {
		t.Run(string(policy), func(t *testing.T) {
			s := open(t, t.TempDir(), Options{MaxBytes: 1 << 20, SegmentBytes: 4 << 10, Fsync: policy,
				FsyncInterval: map[FsyncPolicy]time.Duration{FsyncInterval: time.Millisecond}[policy]})
			const n = 500
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			var wg sync.WaitGroup
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range n {
					if _, err := s.Append(payload(uint64(i), 100), i%10 == 0); err != nil {
						t.Error(err)
						return
					}
				}
			}()
			var seen []uint64
			var inflight []uint64
			after := uint64(0)
			for len(seen) < n {
				r, err := s.Next(ctx, after)
				if err != nil {
					t.Fatalf("Next after %d (%d seen): %v", after, len(seen), err)
				}
				if string(r.Data) != string(payload(r.ID-1, 100)) {
					t.Fatalf("record %d has the wrong bytes", r.ID)
				}
				seen = append(seen, r.ID)
				after = r.ID
				inflight = append(inflight, r.ID)
				if len(inflight) == 4 { // ack a window of four, newest first; quarantine one in 50
					for _, id := range slices.Backward(inflight) {
						done := s.Ack
						if id%50 == 0 {
							done = func(id uint64) error { return s.Quarantine(id, "payload format invalid") }
						}
						if err := done(id); err != nil {
							t.Fatal(err)
						}
					}
					inflight = inflight[:0]
				}
				_ = s.Stats()
			}
			wg.Wait()
			for _, id := range inflight {
				if err := s.Ack(id); err != nil {
					t.Fatal(err)
				}
			}
			if !slices.IsSorted(seen) || seen[0] != 1 || seen[n-1] != n {
				t.Errorf("ids not 1..%d in order: first %d last %d", n, seen[0], seen[n-1])
			}
			if st := s.Stats(); st.Records != 0 || st.Acked != n-n/50 || st.Quarantined != n/50 {
				t.Errorf("after all acks: %+v", st)
			}
		})
	}
}

func TestAppendLimits(t *testing.T) {
	s := open(t, t.TempDir(), Options{MaxBytes: 64 << 10, SegmentBytes: 4 << 10})
	if _, err := s.Append(make([]byte, 64<<10), false); !errors.Is(err, ErrTooLarge) {
		t.Errorf("Append of the whole budget = %v, want ErrTooLarge", err)
	}
	biggest := 64<<10 - segHeaderSize - recHeaderSize
	if _, err := s.Append(make([]byte, biggest+1), false); !errors.Is(err, ErrTooLarge) {
		t.Errorf("Append one byte over = %v, want ErrTooLarge", err)
	}
	big, err := s.Append(payload(1, biggest-16), false) // larger than a segment: a segment of its own
	if err != nil {
		t.Fatalf("Append of the largest record: %v", err)
	}
	if got := drain(t, s); len(got) != 1 || !bytes.Equal(got[0].Data, big.Data) {
		t.Fatalf("got %d records, want the big one", len(got))
	}
	// It fills the budget: even an empty record needs its space.
	if _, err := s.Append(nil, false); err != nil {
		t.Fatalf("Append of no bytes: %v", err)
	}
	got := drain(t, s)
	if len(got) != 1 || got[0].ID != big.ID+1 || len(got[0].Data) != 0 {
		t.Errorf("got %v, want only the empty record", ids(got))
	}
	if d := s.Stats().Dropped; d[DropBudget] != 1 {
		t.Errorf("dropped %v, want the big record for the budget", d)
	}
}

func TestClosed(t *testing.T) {
	s := open(t, t.TempDir(), Options{})
	appendN(t, s, 1, 10, nil)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close = %v, want nil", err)
	}
	if _, err := s.Append([]byte("x"), false); !errors.Is(err, ErrClosed) {
		t.Errorf("Append after Close = %v", err)
	}
	if _, err := s.Next(context.Background(), 0); !errors.Is(err, ErrClosed) {
		t.Errorf("Next after Close = %v", err)
	}
	if err := s.Ack(1); !errors.Is(err, ErrClosed) {
		t.Errorf("Ack after Close = %v", err)
	}
	if err := s.Quarantine(1, "x"); !errors.Is(err, ErrClosed) {
		t.Errorf("Quarantine after Close = %v", err)
	}
	if st := s.Stats(); st.Records != 1 {
		t.Errorf("Stats after Close: %+v", st)
	}
}

func TestLock(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, Options{})
	_, err := Open(Options{Dir: dir, Logger: quiet})
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open = %v, want ErrLocked", err)
	}
	if want := "pid " + strconv.Itoa(os.Getpid()); !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not name the holder (%s)", err, want)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2, err := Open(Options{Dir: dir, Logger: quiet})
	if err != nil {
		t.Fatalf("Open after Close: %v", err)
	}
	s2.Close()
}

// Stats.OldestAge follows the oldest unacked record.
func TestOldest(t *testing.T) {
	s := open(t, t.TempDir(), Options{Fsync: FsyncNone})
	first := appendN(t, s, 1, 10, nil)[0]
	time.Sleep(5 * time.Millisecond)
	second := appendN(t, s, 1, 10, nil)[0]
	st := s.Stats()
	if !st.Oldest.Equal(first.Appended) || st.OldestAge < 5*time.Millisecond {
		t.Errorf("oldest %v age %v, want %v and at least 5ms", st.Oldest, st.OldestAge, first.Appended)
	}
	if err := s.Ack(first.ID); err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); !st.Oldest.Equal(second.Appended) {
		t.Errorf("oldest after ack %v, want %v", st.Oldest, second.Appended)
	}
}

// The publisher holds a batch in flight when the budget drops it: its late
// PUBACK acks nothing and is no error, and Next goes on after it.
func TestDroppedInFlight(t *testing.T) {
	s := open(t, t.TempDir(), budgetOpts)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	first := appendN(t, s, 1, 250, nil)[0]
	sent, err := s.Next(ctx, 0)
	if err != nil || sent.ID != first.ID {
		t.Fatalf("Next = %v, %v", sent.ID, err)
	}
	appendN(t, s, 40, 250, nil) // drops the first segment, the sent batch with it
	if s.find(sent.ID) >= 0 {
		t.Fatal("the test needs the in-flight batch dropped")
	}
	if err := s.Ack(sent.ID); err != nil {
		t.Errorf("late Ack of a dropped batch = %v, want nil", err)
	}
	next, err := s.Next(ctx, sent.ID)
	if err != nil {
		t.Fatal(err)
	}
	if want := drain(t, s)[0].ID; next.ID != want {
		t.Errorf("Next after the dropped batch = %d, want the oldest queued %d", next.ID, want)
	}
}

// Bytes that rot on disk after Open are caught by the checksum when read
// back: the record is skipped, counted and logged, and stays gone.
func TestCorruptOnRead(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, Options{Fsync: FsyncNone})
	recs := appendN(t, s, 3, 100, nil)
	f, err := os.OpenFile(segFiles(t, dir)[0], os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	off := int64(segHeaderSize + recHeaderSize + len(recs[0].Data) + recHeaderSize + 10) // in record 2's data
	if _, err := f.WriteAt([]byte{0xde, 0xad}, off); err != nil {
		t.Fatal(err)
	}
	f.Close()
	sameRecords(t, drain(t, s), without(recs, 2))
	if st := s.Stats(); st.Corrupt != 1 || st.Records != 2 {
		t.Errorf("after reading a rotten record: %+v", st)
	}
	if err := s.Quarantine(2, "x"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Quarantine of the rotten record = %v, want ErrNotFound", err)
	}
	s.Close()
	s = open(t, dir, Options{Fsync: FsyncNone})
	sameRecords(t, drain(t, s), without(recs, 2))
}

// Close while the batcher appends and the publisher waits: both get
// ErrClosed, nothing races, and no goroutine is left (TestMain checks).
func TestCloseUnderLoad(t *testing.T) {
	s := open(t, t.TempDir(), Options{MaxBytes: 1 << 20, SegmentBytes: 4 << 10, Fsync: FsyncInterval,
		FsyncInterval: time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	errs := make(chan error, 2)
	go func() {
		for i := 0; ; i++ {
			if _, err := s.Append(payload(uint64(i), 50), false); err != nil {
				errs <- err
				return
			}
		}
	}()
	go func() {
		after := uint64(0)
		for {
			r, err := s.Next(ctx, after)
			if err != nil {
				errs <- err
				return
			}
			after = r.ID
			if err := s.Ack(r.ID); err != nil {
				errs <- err
				return
			}
		}
	}()
	for s.Stats().Acked < 100 && ctx.Err() == nil {
		time.Sleep(time.Millisecond)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := <-errs; !errors.Is(err, ErrClosed) {
			t.Errorf("after Close: %v, want ErrClosed", err)
		}
	}
}
