package spool

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// childEnv names the spool directory of the kill -9 child (see runChild).
const childEnv = "KANAL_SPOOL_KILL_CHILD"

// childPayload is what the child appends as record id.
func childPayload(id uint64) []byte { return payload(id, 300) }

// runChild is the process the kill -9 test kills: it appends with the
// default fsync policy and prints "appended ID" once Append has returned,
// and acks every third record, printing "acked ID" once Ack has returned.
// It stops by itself after a minute, so no orphan outlives a broken test.
func runChild() int {
	s, err := Open(Options{Dir: os.Getenv(childEnv), MaxBytes: 4 << 20, SegmentBytes: 16 << 10, Logger: quiet})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		id := s.Stats().NextID
		r, err := s.Append(childPayload(id), id%7 == 0)
		if err != nil || r.ID != id {
			fmt.Fprintf(os.Stderr, "append %d: got %d, %v\n", id, r.ID, err)
			return 3
		}
		fmt.Fprintf(os.Stdout, "appended %d\n", id)
		if id%3 == 0 {
			if err := s.Ack(id); err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 4
			}
			fmt.Fprintf(os.Stdout, "acked %d\n", id)
		}
	}
	return 5
}

// A real process appends and acks and is killed with SIGKILL mid-stream,
// three times over on the same directory: every batch it reported appended
// and not acked is there with its bytes, no batch it reported acked comes
// back (an ack in the page cache survives kill -9), and the ids keep
// increasing.
func TestKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	dir := t.TempDir()
	appended, acked := map[uint64]bool{}, map[uint64]bool{}
	var maxID uint64
	for round, after := range []int{40, 75, 120} {
		lines, stderr := killChild(t, dir, after)
		if len(lines) < after {
			t.Fatalf("round %d: child printed %d lines before dying, want %d; stderr:\n%s", round, len(lines), after, stderr)
		}
		for _, l := range lines {
			verb, num, ok := strings.Cut(l, " ")
			id, err := strconv.ParseUint(num, 10, 64)
			if !ok || err != nil {
				t.Fatalf("round %d: child printed %q", round, l)
			}
			switch verb {
			case "appended":
				if id <= maxID {
					t.Fatalf("round %d: id %d after %d", round, id, maxID)
				}
				maxID = id
				appended[id] = true
			case "acked":
				acked[id] = true
			}
		}
	}

	s := open(t, dir, Options{MaxBytes: 4 << 20, SegmentBytes: 16 << 10})
	got := map[uint64]bool{}
	for _, r := range drain(t, s) {
		got[r.ID] = true
		if !bytes.Equal(r.Data, childPayload(r.ID)) {
			t.Errorf("record %d: bytes differ from what was appended", r.ID)
		}
		if r.Priority != (r.ID%7 == 0) {
			t.Errorf("record %d: priority %v", r.ID, r.Priority)
		}
	}
	lost := 0
	for id := range appended {
		if !acked[id] && !got[id] {
			lost++
			t.Errorf("record %d was reported appended and is gone", id)
		}
	}
	for id := range acked {
		if got[id] {
			t.Errorf("record %d was reported acked and came back", id)
		}
	}
	st := s.Stats()
	if st.Corrupt != 0 {
		t.Errorf("kill -9 left damage: %+v", st)
	}
	t.Logf("%d appended, %d acked, %d queued after three kills, %d lost; torn tails %d",
		len(appended), len(acked), st.Records, lost, st.TornTails)
}

// killChild starts the child on dir, SIGKILLs it once it has printed after
// lines, and returns every line it printed and its stderr.
func killChild(t *testing.T, dir string, after int) ([]string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+dir)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var lines []string
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) == after {
			if err := cmd.Process.Kill(); err != nil { // SIGKILL
				t.Fatal(err)
			}
		}
	}
	err = cmd.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ProcessState.Sys() == nil || ee.ProcessState.ExitCode() != -1 {
		t.Fatalf("child did not die by the signal: %v; stderr:\n%s", err, stderr.String())
	}
	return lines, stderr.String()
}
