package web_test

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// browser is a headless Chromium driven over the DevTools protocol on a
// pipe (--remote-debugging-pipe: JSON messages ending in NUL, commands on
// the child's fd 3, answers and events on its fd 4). One page load can so
// be watched while the gateway changes it, where --dump-dom shows one
// moment only.
type browser struct {
	t      *testing.T
	cmd    *exec.Cmd
	in     *os.File // our end of the browser's fd 3
	stderr string   // file holding the browser's stderr

	writeMu sync.Mutex // one command on the pipe at a time
	mu      sync.Mutex
	nextID  int
	waiting map[int]chan message
	onEvent map[string]func(method string, params json.RawMessage) // by session id
	done    chan struct{}                                          // closed when the reader stops
}

// message is a DevTools message: an answer (ID set) or an event (Method).
type message struct {
	ID        int             `json:"id,omitempty"`
	Method    string          `json:"method,omitempty"`
	SessionID string          `json:"sessionId,omitempty"`
	Params    json.RawMessage `json:"params,omitempty"`
	Result    json.RawMessage `json:"result,omitempty"`
	Error     *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error,omitempty"`
}

// chromium returns the browser's path ($KANAL_CHROMIUM, else chromium on
// the PATH), skipping the test without one, or failing it when
// KANAL_REQUIRE_CHROMIUM is set (for CI, which installs it).
func chromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("KANAL_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	const msg = "chromium is not installed (apt-get install chromium; .ci/run installs it)"
	if os.Getenv("KANAL_REQUIRE_CHROMIUM") != "" {
		t.Fatal(msg + ", and KANAL_REQUIRE_CHROMIUM is set")
	}
	t.Skip(msg + ": the page's browser tests are skipped")
	return ""
}

// startBrowser starts a headless Chromium for the test; it is closed
// (and killed if it does not close) when the test ends.
func startBrowser(t *testing.T) *browser {
	t.Helper()
	path := chromium(t)
	dir := t.TempDir()
	toChild, ours, err := os.Pipe() // the child reads commands on fd 3
	if err != nil {
		t.Fatal(err)
	}
	theirs, fromChild, err := os.Pipe() // and writes answers on fd 4
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := os.Create(filepath.Join(dir, "chromium.stderr"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(path, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-dev-shm-usage", "--hide-scrollbars", "--mute-audio", "--force-device-scale-factor=1",
		"--window-size=1280,800", "--user-data-dir="+filepath.Join(dir, "profile"), "--remote-debugging-pipe", "about:blank")
	cmd.ExtraFiles = []*os.File{toChild, fromChild}
	cmd.Stderr = stderr
	cmd.Stdout = stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", path, err)
	}
	toChild.Close()
	fromChild.Close()
	stderr.Close()
	b := &browser{t: t, cmd: cmd, in: ours, stderr: stderr.Name(), waiting: map[int]chan message{},
		onEvent: map[string]func(string, json.RawMessage){}, done: make(chan struct{})}
	go b.read(theirs)
	t.Cleanup(b.close)
	return b
}

// read dispatches the browser's messages until the pipe closes.
func (b *browser) read(r io.ReadCloser) {
	defer close(b.done)
	defer r.Close()
	br := bufio.NewReaderSize(r, 1<<20)
	for {
		raw, err := br.ReadBytes(0)
		if err != nil {
			return
		}
		var m message
		if json.Unmarshal(raw[:len(raw)-1], &m) != nil {
			continue
		}
		b.mu.Lock()
		if m.ID != 0 {
			if ch := b.waiting[m.ID]; ch != nil {
				ch <- m
				delete(b.waiting, m.ID)
			}
		} else if f := b.onEvent[m.SessionID]; f != nil && m.Method != "" {
			f(m.Method, m.Params)
		}
		b.mu.Unlock()
	}
}

// call sends a command (to a page's session, or the browser for "") and
// waits for its answer, at most until ctx ends.
func (b *browser) call(ctx context.Context, session, method string, params any, out any) error {
	b.mu.Lock()
	b.nextID++
	id := b.nextID
	ch := make(chan message, 1)
	b.waiting[id] = ch
	b.mu.Unlock()
	msg := map[string]any{"id": id, "method": method}
	if params != nil {
		msg["params"] = params
	}
	if session != "" {
		msg["sessionId"] = session
	}
	data, err := json.Marshal(msg)
	if err != nil {
		return err
	}
	b.writeMu.Lock()
	_, err = b.in.Write(append(data, 0))
	b.writeMu.Unlock()
	if err != nil {
		return fmt.Errorf("%s: %w", method, err)
	}
	select {
	case m := <-ch:
		if m.Error != nil {
			return fmt.Errorf("%s: %s (%d)", method, m.Error.Message, m.Error.Code)
		}
		if out != nil {
			return json.Unmarshal(m.Result, out)
		}
		return nil
	case <-b.done:
		return fmt.Errorf("%s: the browser went away (stderr: %s)", method, b.stderrTail())
	case <-ctx.Done():
		b.mu.Lock()
		delete(b.waiting, id)
		b.mu.Unlock()
		return fmt.Errorf("%s: %w", method, ctx.Err())
	}
}

func (b *browser) stderrTail() string {
	data, _ := os.ReadFile(b.stderr)
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	var keep []string
	for _, l := range lines {
		if !strings.Contains(l, "dbus") && !strings.Contains(l, "unexpected operator") {
			keep = append(keep, l)
		}
	}
	if len(keep) > 10 {
		keep = keep[len(keep)-10:]
	}
	return strings.Join(keep, "\n")
}

// close asks the browser to quit, and kills it after 10 s.
func (b *browser) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = b.call(ctx, "", "Browser.close", nil, nil)
	b.in.Close()
	exited := make(chan struct{})
	go func() { b.cmd.Wait(); close(exited) }()
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		b.cmd.Process.Kill()
		<-exited
	}
}

// page is one tab.
type page struct {
	b       *browser
	session string

	mu       sync.Mutex
	requests []request // every request the page made
	console  []string  // console errors and uncaught exceptions
}

// newPage opens a tab of 1280×800 CSS pixels and records its requests and
// errors.
func (b *browser) newPage(ctx context.Context) *page {
	b.t.Helper()
	var target struct {
		TargetID string `json:"targetId"`
	}
	if err := b.call(ctx, "", "Target.createTarget", map[string]any{"url": "about:blank"}, &target); err != nil {
		b.t.Fatal(err)
	}
	var att struct {
		SessionID string `json:"sessionId"`
	}
	if err := b.call(ctx, "", "Target.attachToTarget", map[string]any{"targetId": target.TargetID, "flatten": true}, &att); err != nil {
		b.t.Fatal(err)
	}
	p := &page{b: b, session: att.SessionID}
	b.mu.Lock()
	b.onEvent[p.session] = p.event
	b.mu.Unlock()
	for _, c := range []struct {
		method string
		params any
	}{
		{"Network.enable", nil},
		{"Runtime.enable", nil},
		{"Page.enable", nil},
		{"Emulation.setDeviceMetricsOverride", map[string]any{"width": 1280, "height": 800, "deviceScaleFactor": 1, "mobile": false}},
	} {
		if err := b.call(ctx, p.session, c.method, c.params, nil); err != nil {
			b.t.Fatal(err)
		}
	}
	return p
}

func (p *page) event(method string, params json.RawMessage) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch method {
	case "Network.requestWillBeSent":
		var e struct {
			Request request `json:"request"`
		}
		if json.Unmarshal(params, &e) == nil {
			p.requests = append(p.requests, e.Request)
		}
	case "Runtime.exceptionThrown":
		p.console = append(p.console, "exception: "+string(params))
	case "Runtime.consoleAPICalled":
		var e struct {
			Type string `json:"type"`
			Args []struct {
				Value       any    `json:"value"`
				Description string `json:"description"`
			} `json:"args"`
		}
		if json.Unmarshal(params, &e) == nil && (e.Type == "error" || e.Type == "assert") {
			var parts []string
			for _, a := range e.Args {
				parts = append(parts, fmt.Sprint(a.Value, a.Description))
			}
			p.console = append(p.console, "console."+e.Type+": "+strings.Join(parts, " "))
		}
	}
}

// request is a request as the page sent it.
type request struct {
	URL     string            `json:"url"`
	Headers map[string]string `json:"headers"`
}

// Requests returns the requests the page made so far.
func (p *page) Requests() []request {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]request(nil), p.requests...)
}

// Errors returns the console errors and uncaught exceptions so far.
func (p *page) Errors() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.console...)
}

// navigate loads url and waits for its load event (through the session's
// answer to Page.navigate, then document.readyState).
func (p *page) navigate(ctx context.Context, url string) {
	p.b.t.Helper()
	var nav struct {
		ErrorText string `json:"errorText"`
	}
	if err := p.b.call(ctx, p.session, "Page.navigate", map[string]any{"url": url}, &nav); err != nil {
		p.b.t.Fatal(err)
	}
	if nav.ErrorText != "" {
		p.b.t.Fatalf("navigate %s: %s", url, nav.ErrorText)
	}
	p.waitFor(ctx, "the page to load", `document.readyState === "complete" ? "" : "readyState " + document.readyState`)
}

// eval evaluates a JavaScript expression (awaiting a promise) and decodes
// its JSON value into out.
func (p *page) eval(ctx context.Context, expr string, out any) error {
	var res struct {
		Result struct {
			Value json.RawMessage `json:"value"`
		} `json:"result"`
		ExceptionDetails *struct {
			Text      string `json:"text"`
			Exception struct {
				Description string `json:"description"`
			} `json:"exception"`
		} `json:"exceptionDetails"`
	}
	err := p.b.call(ctx, p.session, "Runtime.evaluate", map[string]any{
		"expression": expr, "returnByValue": true, "awaitPromise": true}, &res)
	if err != nil {
		return err
	}
	if res.ExceptionDetails != nil {
		return fmt.Errorf("javascript: %s %s", res.ExceptionDetails.Text, res.ExceptionDetails.Exception.Description)
	}
	if out == nil || len(res.Result.Value) == 0 {
		return nil
	}
	return json.Unmarshal(res.Result.Value, out)
}

// mustEval is eval that fails the test.
func (p *page) mustEval(ctx context.Context, expr string, out any) {
	p.b.t.Helper()
	if err := p.eval(ctx, expr, out); err != nil {
		p.b.t.Fatalf("%s: %v", expr, err)
	}
}

// waitFor evaluates check (a JavaScript expression giving "" when the
// condition holds, otherwise what is missing) every 200 ms until it holds,
// failing the test with the last answer when ctx ends first.
func (p *page) waitFor(ctx context.Context, what, check string) {
	p.b.t.Helper()
	last := ""
	for {
		var missing string
		err := p.eval(ctx, check, &missing)
		if err == nil && missing == "" {
			return
		}
		if err != nil {
			missing = err.Error()
		}
		last = missing
		select {
		case <-ctx.Done():
			p.b.t.Fatalf("waiting for %s: %s\npage errors: %v\nbrowser: %s", what, last, p.Errors(), p.b.stderrTail())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// screenshot writes the tab as PNG to path.
func (p *page) screenshot(ctx context.Context, path string) error {
	var shot struct {
		Data string `json:"data"`
	}
	if err := p.b.call(ctx, p.session, "Page.captureScreenshot", map[string]any{"format": "png"}, &shot); err != nil {
		return err
	}
	png, err := base64.StdEncoding.DecodeString(shot.Data)
	if err != nil {
		return err
	}
	if len(png) < 8 || string(png[1:4]) != "PNG" {
		return errors.New("screenshot: not a PNG")
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, png, 0o644)
}
