package gatewaybench

import (
	"bufio"
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"
)

// TestChild runs the child's protocol in this process against each
// target with a small fleet: it reports ready with every vehicle
// connected, waits for the word, publishes, and reports; the gateway's
// stream then holds exactly the acknowledged batches.
func TestChild(t *testing.T) {
	for _, tg := range targets {
		t.Run("target="+tg.name, func(t *testing.T) {
			const conns = 20
			target := tg.start(t, conns)
			spec, _ := json.Marshal(childSpec{Broker: target.addr, Connections: conns, Rate: 5, Duration: time.Second, Loopback: 2, Key: target.key})
			inR, inW := io.Pipe()
			outR, outW := io.Pipe()
			code := make(chan int, 1)
			go func() {
				code <- child(string(spec), inR, outW)
				outW.Close()
			}()
			lines := bufio.NewScanner(outR)
			var ready struct{ Ready int }
			if !lines.Scan() || json.Unmarshal(lines.Bytes(), &ready) != nil || ready.Ready != conns {
				t.Fatalf("ready line %q", lines.Text())
			}
			io.WriteString(inW, "go\n")
			var res childResult
			if !lines.Scan() || json.Unmarshal(lines.Bytes(), &res) != nil || res.Report == nil {
				t.Fatalf("report line %q", lines.Text())
			}
			go io.Copy(io.Discard, outR)
			select {
			case c := <-code:
				if c != 0 {
					t.Fatalf("child exit %d", c)
				}
			case <-time.After(30 * time.Second):
				t.Fatal("child did not end")
			}
			rep := res.Report
			if rep.Held != conns || rep.Acked == 0 || rep.Acked != rep.Published || res.CPU <= 0 {
				t.Errorf("held %d, published %d, acked %d, cpu %.2f s; failures %v", rep.Held, rep.Published, rep.Acked, res.CPU, rep.ConnectFailures)
			}
			if target.stored != nil {
				if n, err := target.stored(); err != nil || n != rep.Acked {
					t.Errorf("stream holds %d batches (%v), %d acknowledged", n, err, rep.Acked)
				}
			}
		})
	}
}

// TestChildBadSpec: the child refuses a spec it cannot read or use.
func TestChildBadSpec(t *testing.T) {
	for _, spec := range []string{"{", `{"broker":""}`} {
		if code := child(spec, strings.NewReader(""), io.Discard); code != 2 {
			t.Errorf("spec %s: exit %d", spec, code)
		}
	}
	// no broker there: no vehicle connects
	if code := child(`{"broker":"127.0.0.1:1","connections":2}`, strings.NewReader(""), io.Discard); code != 1 {
		t.Errorf("unreachable broker: exit %d", code)
	}
}

func TestSettledRSS(t *testing.T) {
	rss := settledRSS(t)
	if rss < 1<<20 || rss > 1<<40 {
		t.Errorf("RSS %d", rss)
	}
	if cpuTime() <= 0 {
		t.Error("no CPU time")
	}
}
