package spool

import (
	"bytes"
	"log/slog"
	"math/rand/v2"
	"testing"
)

// budgetOpts is a budget of eight 1 KiB segments.
var budgetOpts = Options{MaxBytes: 8 << 10, SegmentBytes: 1 << 10, Fsync: FsyncNone}

// checkDisk fails unless the spool's own account of its disk use matches
// the files and stays within the budget.
func checkDisk(t *testing.T, s *Spool, dir string) {
	t.Helper()
	st := s.Stats()
	if on := dirBytes(t, dir); st.DiskBytes != on {
		t.Fatalf("Stats.DiskBytes %d, files hold %d", st.DiskBytes, on)
	}
	if st.DiskBytes > int64(s.opts.MaxBytes) {
		t.Fatalf("disk %d over the budget of %d", st.DiskBytes, s.opts.MaxBytes)
	}
}

func TestBudgetDropsOldestNonPriority(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, budgetOpts)
	var all []Record
	for i := range 60 {
		all = append(all, appendN(t, s, 1, 250, func(int) bool { return i%6 == 0 })...)
		checkDisk(t, s, dir)
	}
	got := drain(t, s)
	st := s.Stats()
	if st.Dropped[DropBudget] == 0 || st.Dropped[DropBudgetPriority] != 0 {
		t.Fatalf("dropped %v, want non-priority drops only", st.Dropped)
	}
	if uint64(len(got))+st.Dropped[DropBudget] != uint64(len(all)) {
		t.Fatalf("%d queued + %d dropped != %d appended", len(got), st.Dropped[DropBudget], len(all))
	}
	queued := map[uint64]bool{}
	for _, r := range got {
		queued[r.ID] = true
	}
	var newestDropped, oldestKept uint64 = 0, 1 << 63
	for _, r := range all {
		switch {
		case r.Priority && !queued[r.ID]:
			t.Errorf("priority record %d dropped while non-priority ones were left", r.ID)
		case !r.Priority && !queued[r.ID]:
			newestDropped = max(newestDropped, r.ID)
		case !r.Priority:
			oldestKept = min(oldestKept, r.ID)
		}
	}
	if newestDropped > oldestKept {
		t.Errorf("dropped record %d is newer than kept record %d: oldest first", newestDropped, oldestKept)
	}
	for _, r := range got {
		if !bytes.Equal(r.Data, all[r.ID-1].Data) {
			t.Errorf("record %d: bytes changed (moved priority record?)", r.ID)
		}
	}
	// The moved priority records are on disk: a reopen gives the same queue.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(t, dir, budgetOpts)
	sameRecords(t, drain(t, s), got)
	if st := s.Stats(); st.Corrupt != 0 || st.TornTails != 0 {
		t.Errorf("reopen after drops: %+v", st)
	}
}

func TestBudgetOnlyPriority(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, budgetOpts)
	all := appendN(t, s, 60, 250, func(int) bool { return true })
	checkDisk(t, s, dir)
	got := drain(t, s)
	st := s.Stats()
	if st.Dropped[DropBudget] != 0 || st.Dropped[DropBudgetPriority]+uint64(len(got)) != 60 {
		t.Fatalf("dropped %v with %d queued", st.Dropped, len(got))
	}
	sameRecords(t, got, all[60-len(got):]) // the newest are kept
}

// A priority record sitting in the oldest segment with non-priority ones
// survives their drop, and the oldest priority record goes first once only
// priority records are left.
func TestBudgetMovesPriority(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, budgetOpts)
	first := appendN(t, s, 1, 250, func(int) bool { return true })[0]
	appendN(t, s, 40, 250, nil)
	got := drain(t, s)
	if len(got) == 0 || got[0].ID != first.ID || !bytes.Equal(got[0].Data, first.Data) {
		t.Fatalf("the first, priority record is not kept first: %v", ids(got))
	}
	if seg := s.recs[s.find(first.ID)].seg; seg.seq == 1 {
		t.Errorf("priority record still in segment 1, which should be gone")
	}
	all := appendN(t, s, 40, 250, func(int) bool { return true })
	got = drain(t, s)
	if got[len(got)-1].ID != all[len(all)-1].ID || s.find(first.ID) >= 0 {
		t.Errorf("with only priority records, the oldest should go first: %v", ids(got))
	}
}

func TestBudgetLogsOnce(t *testing.T) {
	logs := &logRecorder{}
	opts := budgetOpts
	opts.Logger = slog.New(logs)
	s := open(t, t.TempDir(), opts)
	all := appendN(t, s, 60, 250, nil)
	if n := logs.count("spool over budget, dropping the oldest batches"); n != 1 {
		t.Errorf("over budget logged %d times for one episode, want 1", n)
	}
	for _, r := range all {
		if err := s.Ack(r.ID); err != nil {
			t.Fatal(err)
		}
	}
	if n := logs.count("spool under budget again"); n != 1 {
		t.Errorf("under budget logged %d times, want 1", n)
	}
	appendN(t, s, 60, 250, func(int) bool { return true })
	if n := logs.count("spool over budget, dropping the oldest batches"); n != 2 {
		t.Errorf("second episode: over budget logged %d times in all, want 2", n)
	}
	if n := logs.count("spool over budget with only priority batches left, dropping the oldest of them"); n != 1 {
		t.Errorf("priority drops logged %d times, want 1", n)
	}
}

// A random mix of appends (some priority, sizes up to a segment and more)
// and out-of-order acks: the budget holds after every step, the account of
// every batch adds up, the bytes are intact, and a reopen agrees.
func TestBudgetRandom(t *testing.T) {
	dir := t.TempDir()
	opts := Options{MaxBytes: 16 << 10, SegmentBytes: 2 << 10, Fsync: FsyncNone}
	s := open(t, dir, opts)
	rng := rand.New(rand.NewPCG(1, 2))
	data := map[uint64][]byte{}
	var acked uint64
	for step := range 2000 {
		if rng.IntN(3) > 0 {
			b := payload(uint64(step), rng.IntN(3000))
			r, err := s.Append(b, rng.IntN(8) == 0)
			if err != nil {
				t.Fatalf("step %d: %v", step, err)
			}
			data[r.ID] = b
		} else if q := drain(t, s); len(q) > 0 {
			if err := s.Ack(q[rng.IntN(len(q))].ID); err != nil {
				t.Fatal(err)
			}
			acked++
		}
		checkDisk(t, s, dir)
	}
	got := drain(t, s)
	st := s.Stats()
	if n := uint64(len(got)) + acked + st.Dropped[DropBudget] + st.Dropped[DropBudgetPriority]; n != st.Appended {
		t.Errorf("%d queued + %d acked + %v dropped != %d appended", len(got), acked, st.Dropped, st.Appended)
	}
	for _, r := range got {
		if !bytes.Equal(r.Data, data[r.ID]) {
			t.Fatalf("record %d: bytes changed", r.ID)
		}
	}
	s.Close()
	s = open(t, dir, opts)
	sameRecords(t, drain(t, s), got)
}
