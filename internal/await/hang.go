package await

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// module is the prefix of the project's own functions in a stack dump.
const module = "github.com/kanal-dev/kanal/"

var watching sync.Once

// WatchHangs makes a test binary that hangs say where, readably. When go
// test's -timeout expires, it prints every goroutine (hundreds, once
// nats-server and mochi run in the test) and "running tests" at the top,
// and CI logs keep the tail, which is some server's idle goroutine. Shortly
// before that deadline, WatchHangs prints the whole dump and then, last,
// the goroutines that run the project's code, with their frames on one line
// each, and exits with status 2. The first call in a binary starts the
// watch; later ones do nothing. Without a deadline (-timeout 0) it does
// nothing.
func WatchHangs(t testing.TB) {
	d, ok := t.(interface{ Deadline() (time.Time, bool) })
	if !ok {
		return // a benchmark has no deadline
	}
	deadline, ok := d.Deadline()
	if !ok {
		return
	}
	watching.Do(func() {
		left := time.Until(deadline)
		if left <= 0 {
			return
		}
		time.AfterFunc(left-min(30*time.Second, left/10), func() {
			report(os.Stderr, allStacks(), time.Until(deadline))
			os.Exit(2)
		})
	})
}

// report writes the dump, then its summary.
func report(w io.Writer, dump []byte, left time.Duration) {
	fmt.Fprintf(w, "\nawait: the tests are still running %s before go test's timeout; every goroutine:\n\n", left.Round(time.Second))
	w.Write(dump)
	fmt.Fprintf(w, "\nawait: the tests hang; the goroutines in %s (tests first):\n\n", strings.TrimSuffix(module, "/"))
	w.Write(Summarize(dump))
}

// allStacks returns the stacks of every goroutine, as a panic prints them.
func allStacks() []byte {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return buf[:n]
		}
		buf = make([]byte, 2*len(buf))
	}
}

// Summarize returns the goroutines of dump that run the project's code,
// the ones inside a test first, each as its header line and one line per
// frame (function and file:line), at most 30 goroutines of 15 frames.
// The watchdog's own goroutine is left out.
func Summarize(dump []byte) []byte {
	var tests, others []string
	for _, g := range bytes.Split(dump, []byte("\n\n")) {
		lines := strings.Split(strings.TrimSpace(string(g)), "\n")
		if len(lines) < 2 || !strings.HasPrefix(lines[0], "goroutine ") {
			continue
		}
		var b strings.Builder
		b.WriteString(lines[0] + "\n")
		ours, test, frames := false, false, 0
		for i := 1; i < len(lines); i++ {
			fn := lines[i]
			if strings.HasPrefix(fn, "\t") {
				continue // a file line without its function
			}
			if strings.Contains(fn, "internal/await.WatchHangs") {
				ours = false
				break
			}
			where := ""
			if i+1 < len(lines) && strings.HasPrefix(lines[i+1], "\t") {
				where = strings.TrimSpace(lines[i+1])
				if sp := strings.LastIndex(where, " +0x"); sp > 0 {
					where = where[:sp]
				}
				i++
			}
			if strings.HasPrefix(fn, module) {
				ours = true
			}
			if strings.HasPrefix(fn, "testing.tRunner") {
				test = true
			}
			if frames < 15 {
				if p := strings.LastIndex(fn, "("); p > 0 && strings.HasSuffix(fn, ")") {
					fn = fn[:p]
				}
				fmt.Fprintf(&b, "    %s  %s\n", fn, where)
			}
			frames++
		}
		if !ours {
			continue
		}
		if frames > 15 {
			fmt.Fprintf(&b, "    ... %d frames more\n", frames-15)
		}
		if test {
			tests = append(tests, b.String())
		} else {
			others = append(others, b.String())
		}
	}
	all := append(tests, others...)
	var out bytes.Buffer
	for i, g := range all {
		if i == 30 {
			fmt.Fprintf(&out, "... %d goroutines more\n", len(all)-30)
			break
		}
		out.WriteString(g)
	}
	if len(all) == 0 {
		out.WriteString("none\n")
	}
	return out.Bytes()
}
