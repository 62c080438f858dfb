package await

import (
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// parked blocks in a function of this package until release is closed.
func parked(ready chan<- struct{}, release <-chan struct{}) {
	close(ready)
	<-release
}

func TestSummarize(t *testing.T) {
	ready, release := make(chan struct{}), make(chan struct{})
	defer close(release)
	go parked(ready, release)
	<-ready
	time.Sleep(10 * time.Millisecond) // until it blocks in the receive
	sum := string(Summarize(allStacks()))
	for _, want := range []string{
		"internal/await.parked  ", "hang_test.go:", // the parked goroutine, with its file
		"internal/await.TestSummarize  ", // the test goroutine
		"testing.tRunner",
	} {
		if !strings.Contains(sum, want) {
			t.Errorf("summary lacks %q:\n%s", want, sum)
		}
	}
	if strings.Contains(sum, "+0x") || strings.Contains(sum, "runtime.gopark(") {
		t.Errorf("summary keeps offsets or arguments:\n%s", sum)
	}
	if i, j := strings.Index(sum, "TestSummarize"), strings.Index(sum, "await.parked"); i < 0 || j < i {
		t.Errorf("the test goroutine is not first:\n%s", sum)
	}
}

func TestSummarizeLeavesOut(t *testing.T) {
	dump := `goroutine 1 [chan receive, 19 minutes]:
testing.(*T).Run(0xc000003340, {0x1, 0x2}, 0x3)
	/usr/local/go/src/testing/testing.go:2005 +0x485
main.main()
	_testmain.go:45 +0x9b

goroutine 7 [select]:
github.com/nats-io/nats-server/v2/server.(*Server).startGWReplyMapExpiration.func1()
	/root/go/pkg/mod/github.com/nats-io/nats-server/v2@v2.15.2/server/gateway.go:3316 +0x1ef

goroutine 9 [sleep]:
github.com/kanal-dev/kanal/internal/await.allStacks()
	/work/internal/await/hang.go:70 +0x10
github.com/kanal-dev/kanal/internal/await.WatchHangs.func1.1()
	/work/internal/await/hang.go:40 +0x10

goroutine 12 [semacquire, 19 minutes]:
sync.(*WaitGroup).Wait(0xc0001)
	/usr/local/go/src/sync/waitgroup.go:118 +0x60
github.com/kanal-dev/kanal/cloud/bridge.(*Hook).Stop(0xc0002)
	/work/cloud/bridge/hook.go:101 +0x45
created by github.com/kanal-dev/kanal/cloud/bridge.TestStop in goroutine 11
	/work/cloud/bridge/hook_test.go:283 +0x99
`
	sum := string(Summarize([]byte(dump)))
	want := `goroutine 12 [semacquire, 19 minutes]:
    sync.(*WaitGroup).Wait  /usr/local/go/src/sync/waitgroup.go:118
    github.com/kanal-dev/kanal/cloud/bridge.(*Hook).Stop  /work/cloud/bridge/hook.go:101
    created by github.com/kanal-dev/kanal/cloud/bridge.TestStop in goroutine 11  /work/cloud/bridge/hook_test.go:283
`
	if sum != want {
		t.Errorf("summary:\n%s\nwant:\n%s", sum, want)
	}
	if got := string(Summarize([]byte("goroutine 1 [running]:\nmain.main()\n\tx.go:1 +0x1\n"))); got != "none\n" {
		t.Errorf("summary of no project goroutine: %q", got)
	}
}

// TestWatchHangs runs a test binary that hangs with a 3 s timeout: the
// watchdog ends it before go test's own timeout, the summary comes last
// and names the hung function.
func TestWatchHangs(t *testing.T) {
	if os.Getenv("KANAL_AWAIT_HANG") == "1" {
		WatchHangs(t)
		parked(make(chan struct{}), nil) // forever
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run", "^TestWatchHangs$", "-test.timeout", "3s")
	cmd.Env = append(os.Environ(), "KANAL_AWAIT_HANG=1")
	out, err := cmd.CombinedOutput()
	exit, ok := err.(*exec.ExitError)
	if !ok || exit.ExitCode() != 2 {
		t.Fatalf("the hung binary ended with %v, want exit status 2:\n%s", err, out)
	}
	s := string(out)
	if strings.Contains(s, "panic: test timed out") {
		t.Fatalf("go test's timeout came first:\n%s", s)
	}
	tail := s[strings.LastIndex(s, "await: the tests hang"):]
	if !strings.Contains(tail, "internal/await.parked") || !strings.Contains(tail, "internal/await.TestWatchHangs") {
		t.Fatalf("the summary at the end does not name the hung test and function:\n%s", tail)
	}
	if !strings.Contains(s, "every goroutine:") || !strings.Contains(s, "goroutine 1 [") {
		t.Fatalf("no whole dump before the summary:\n%s", s)
	}
}
