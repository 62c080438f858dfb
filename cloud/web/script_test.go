package web_test

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/kanal-dev/kanal/cloud/web"
)

// scriptPage loads the page from the handler alone (no API behind it) in
// a headless browser: enough for the parts of app.js that need no gateway.
func scriptPage(t *testing.T) (*page, context.Context) {
	t.Helper()
	b := startBrowser(t)
	srv := httptest.NewServer(web.Handler(web.Options{Version: "test"}))
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	p := b.newPage(ctx)
	p.navigate(ctx, srv.URL+"/")
	p.waitFor(ctx, "the page's script", `window.KanalPage ? "" : "no KanalPage"`)
	return p, ctx
}

// sseEvent is an event as the page's SSEParser dispatches it.
type sseEvent struct {
	Type string `json:"type"`
	Data string `json:"data"`
	ID   string `json:"id"`
}

// TestPageSSEParser feeds the page's stream parser chunks split at awkward
// places, in the browser: events must come out as the WHATWG
// event-stream rules say, whatever the chunking.
func TestPageSSEParser(t *testing.T) {
	p, ctx := scriptPage(t)
	alert := `{"id":"fog:479ddf5c:1","kind":"fog","state":"raised"}`
	tests := []struct {
		name   string
		chunks []string
		want   []sseEvent
		lastID string
		retry  int
	}{
		{"one event", []string{"id: 7\nevent: alert\ndata: " + alert + "\n\n"},
			[]sseEvent{{"alert", alert, "7"}}, "7", 0},
		{"split everywhere", strings.Split("retry: 2000\n\nid: 8\nevent: alert\ndata: "+alert+"\n\n", ""),
			[]sseEvent{{"alert", alert, "8"}}, "8", 2000},
		{"CRLF split between CR and LF", []string{"id: 1\r", "\nevent: ready\r\ndata: {}\r", "\n\r", "\n"},
			[]sseEvent{{"ready", "{}", "1"}}, "1", 0},
		{"lone CR line ends", []string{"id: 2\revent: alert\rdata: x\r\r"},
			[]sseEvent{{"alert", "x", "2"}}, "2", 0},
		{"comments and keepalives", []string{": keepalive\n\n", ": keepalive\n\nid: 3\ndata: y\n\n"},
			[]sseEvent{{"message", "y", "3"}}, "3", 0},
		{"data lines join with LF, one space dropped", []string{"data:a\ndata:  b\ndata\n\n"},
			[]sseEvent{{"message", "a\n b\n", ""}}, "", 0},
		{"no data, no event; the id still counts", []string{"id: 9\nevent: alert\n\n"}, nil, "9", 0},
		{"an unfinished event waits", []string{"id: 4\ndata: z\n"}, nil, "", 0},
		{"the type resets after each event", []string{"event: ready\ndata: 1\n\ndata: 2\n\n"},
			[]sseEvent{{"ready", "1", ""}, {"message", "2", ""}}, "", 0},
		{"bad retry ignored, unknown fields too", []string{"retry: 2s\nfoo: bar\ndata: q\n\n"},
			[]sseEvent{{"message", "q", ""}}, "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			chunks, _ := json.Marshal(tt.chunks)
			var got struct {
				Events []sseEvent `json:"events"`
				LastID string     `json:"lastEventId"`
				Retry  int        `json:"retry"`
			}
			p.mustEval(ctx, `(() => {
				const events = [];
				const parser = new KanalPage.SSEParser((e) => events.push(e));
				for (const c of `+string(chunks)+`) parser.push(c);
				return {events, lastEventId: parser.lastEventId, retry: parser.retry};
			})()`, &got)
			if !reflect.DeepEqual(got.Events, tt.want) && !(len(got.Events) == 0 && len(tt.want) == 0) {
				t.Errorf("events %+v, want %+v", got.Events, tt.want)
			}
			if got.LastID != tt.lastID || got.Retry != tt.retry {
				t.Errorf("last event id %q retry %d, want %q %d", got.LastID, got.Retry, tt.lastID, tt.retry)
			}
		})
	}
}

// TestPageFragment: the page takes its login and area from the URL
// fragment, percent-decoded, and keeps everything but the token.
func TestPageFragment(t *testing.T) {
	p, ctx := scriptPage(t)
	tests := []struct {
		hash, token, bbox, rest string
	}{
		{"#token=ops:s3cr3t-_x", "ops:s3cr3t-_x", "", ""},
		{"#token=ops%3Apa%2Bss&bbox=11.5,48.1,11.7,48.2", "ops:pa+ss", "11.5,48.1,11.7,48.2", "bbox=11.5,48.1,11.7,48.2"},
		{"#bbox=1,2,3,4&token=a:b+c", "a:b+c", "1,2,3,4", "bbox=1,2,3,4"},
		{"#token=a:%zz", "a:%zz", "", ""},
		{"", "", "", ""},
		{"#&&x=1", "", "", "x=1"},
	}
	for _, tt := range tests {
		t.Run(tt.hash, func(t *testing.T) {
			h, _ := json.Marshal(tt.hash)
			var got struct{ Token, BBox, Rest string }
			p.mustEval(ctx, `(() => { const f = KanalPage.parseFragment(`+string(h)+`); return {Token: f.token, BBox: f.bbox, Rest: f.rest}; })()`, &got)
			if got.Token != tt.token || got.BBox != tt.bbox || got.Rest != tt.rest {
				t.Errorf("got %+v, want token %q bbox %q rest %q", got, tt.token, tt.bbox, tt.rest)
			}
		})
	}
}

// TestPageScale: the scale bar is a round length no longer than asked.
func TestPageScale(t *testing.T) {
	p, ctx := scriptPage(t)
	tests := []struct {
		metresPerPx, maxPx float64
		metres             float64
		label              string
	}{
		{10, 180, 1000, "1 km"},
		{3, 180, 500, "500 m"},
		{25, 180, 2000, "2 km"},
		{0.5, 150, 50, "50 m"},
		{400, 160, 50000, "50 km"},
	}
	for _, tt := range tests {
		t.Run(tt.label, func(t *testing.T) {
			var got struct {
				Metres float64 `json:"metres"`
				Px     float64 `json:"px"`
				Label  string  `json:"label"`
			}
			args, _ := json.Marshal([]float64{tt.metresPerPx, tt.maxPx})
			p.mustEval(ctx, `KanalPage.niceScale(...`+string(args)+`)`, &got)
			if got.Metres != tt.metres || got.Label != tt.label || got.Px > tt.maxPx {
				t.Errorf("niceScale(%v, %v) = %+v, want %v m %q", tt.metresPerPx, tt.maxPx, got, tt.metres, tt.label)
			}
		})
	}
}

// TestPageWithoutLogin: with no token the page asks for one and draws
// nothing, without a script error.
func TestPageWithoutLogin(t *testing.T) {
	p, ctx := scriptPage(t)
	p.waitFor(ctx, "the login form", `document.querySelector("#login").hidden ? "login form hidden" : ""`)
	var got struct {
		Auth, Conn string
		Cells      string
	}
	p.mustEval(ctx, `({Auth: document.body.dataset.auth, Conn: document.querySelector("#conn").dataset.state,
		Cells: document.querySelector("#map").dataset.cells})`, &got)
	if got.Auth != "none" || got.Conn != "idle" || got.Cells != "0" {
		t.Errorf("page without a login: %+v", got)
	}
	if errs := p.Errors(); len(errs) > 0 {
		t.Errorf("script errors: %v", errs)
	}
}
