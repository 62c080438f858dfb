package alert

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kanal-dev/kanal/cloud/store/storetest"
	"github.com/kanal-dev/kanal/internal/await"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// childEnv names the NATS URL a child processor connects to.
const childEnv = "KANAL_ALERT_TEST_CHILD_NATS"

// TestChildProcessor is the processor TestKillDashNine runs as a child
// process and kills; run alone it skips.
func TestChildProcessor(t *testing.T) {
	url := os.Getenv(childEnv)
	if url == "" {
		t.Skip("the child of TestKillDashNine")
	}
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	js, _ := jetstream.New(nc)
	e, err := New(Options{JetStream: js, Tick: 20 * time.Millisecond, LeaseTTL: time.Second, Duplicates: time.Second,
		Rules: Rules{Fog: FogRule{ClearAfter: time.Second}},
		Name:  fmt.Sprint("child-", os.Getpid()), Logger: slog.New(slog.NewTextHandler(os.Stderr, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	e.Run(ctx) // until killed
}

// TestKillDashNine: a processor process is killed with SIGKILL at random
// moments while vehicles keep sending, and started again each time: no
// alert change is missing and none is published twice, although JetStream's
// duplicate window (1 s) is shorter than each outage (the lease's TTL).
func TestKillDashNine(t *testing.T) {
	if testing.Short() {
		t.Skip("kills processes: not in -short")
	}
	ns := runNATS(t)
	js := connect(t, ns)
	ensureBatches(t, js)
	var child *exec.Cmd
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	start := func() {
		child = exec.Command(os.Args[0], "-test.run=^TestChildProcessor$", "-test.v=false")
		child.Env = append(os.Environ(), childEnv+"="+ns.ClientURL())
		child.Stdout, child.Stderr = io.Discard, os.Stderr
		if err := child.Start(); err != nil {
			t.Fatal(err)
		}
		// Wait until it holds the lease (after the killed one's expired).
		holder := fmt.Sprint("child-", child.Process.Pid)
		await.Until(t, testTimeout, "the new child active", func() bool {
			kv, err := js.KeyValue(ctx, LeaseBucket)
			if err != nil {
				return false
			}
			e, err := kv.Get(ctx, DefaultConsumer)
			return err == nil && strings.Contains(string(e.Value()), holder)
		})
	}
	kill := func() {
		child.Process.Kill()
		child.Wait()
	}
	start()
	t.Cleanup(kill)
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("KANAL_KILL_SEED"); s != "" { // to replay a failure
		fmt.Sscan(s, &seed)
	}
	t.Logf("seed %d (KANAL_KILL_SEED replays it)", seed)
	rng := rand.New(rand.NewPCG(seed, 2))
	cars := make([]*car, 6)
	for i := range cars {
		cars[i] = newCar(t, fmtCar(i))
	}
	want := map[string]bool{} // every alert change's Nats-Msg-Id
	lamp := map[string]bool{}
	lampOn := map[string]time.Time{}
	kills := 0
	for round := range 24 {
		c := cars[round%len(cars)]
		on := !lamp[c.id]
		lamp[c.id] = on
		at := time.Now()
		c.send(t, js, false, report{at: at, cell: cellA, kmh: 40, lamps: lamps("ABS", on)}.values(t)...)
		state := StateRaised
		if !on {
			state = StateCleared
		}
		if on {
			lampOn[c.id] = at
		}
		id := episodeID(lampOn[c.id], KindWarning, cellA.Token(), "ABS") + ":" + state
		want[id], want["fleet:"+id] = true, true
		if round%3 == 2 { // fog in a new cell, raised by three cars
			cell := cellFar
			for k := 0; k < round/3; k++ {
				cell = nextCell(cell)
			}
			for k := range 3 {
				cars[k].send(t, js, false, report{at: time.Now(), cell: cell, fog: true, kmh: 30}.values(t)...)
			}
		}
		if rng.IntN(2) == 0 { // kill it somewhere in the middle of the work
			time.Sleep(time.Duration(rng.IntN(30)) * time.Millisecond)
			kill()
			kills++
			start()
		}
	}
	for k := range 3 { // the cars leave the last fog
		cars[k].send(t, js, false, report{at: time.Now(), cell: cellA, kmh: 30, lamps: lamps("ABS", lamp[cars[k].id])}.values(t)...)
	}
	waitAcked(t, js)
	// Each fog clears clear_after (1 s) after its cars left.
	await.Until(t, testTimeout, "every fog cleared", func() bool {
		n := 0
		for id := range msgIDs(t, js) {
			if strings.HasPrefix(id, "fog:") {
				n++
			}
		}
		return n >= 16
	})
	time.Sleep(500 * time.Millisecond) // and nothing more comes
	got := msgIDs(t, js)
	fogs := map[string]int{} // episode → changes
	for _, m := range storetest.Read(t, js, "KANAL_ALERTS") {
		if got[m.Header.Get(jetstream.MsgIDHeader)] > 1 {
			t.Logf("seq %d %s %s", m.Seq, m.Subject, m.Header.Get(jetstream.MsgIDHeader))
		}
	}
	for id, n := range got {
		if n != 1 {
			t.Errorf("%s published %d times", id, n)
		}
		if strings.HasPrefix(id, "fog:") {
			fogs[id[:strings.LastIndexByte(id, ':')]]++
			continue
		}
		if !want[id] {
			t.Errorf("unexpected alert change %s", id)
		}
	}
	for id := range want {
		if got[id] == 0 {
			t.Errorf("alert change %s is missing", id)
		}
	}
	if len(fogs) != 8 {
		t.Errorf("%d fog episodes %v, want 8, each raised and cleared", len(fogs), fogs)
	}
	for ep, n := range fogs {
		if n != 2 {
			t.Errorf("fog episode %s: %d changes, want raised and cleared", ep, n)
		}
	}
	t.Logf("%d kills, %d alert changes", kills, len(got))
}
