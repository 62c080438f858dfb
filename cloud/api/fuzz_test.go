package api

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/kanal-dev/kanal/internal/wire"
)

func TestReadEvents(t *testing.T) {
	data, err := os.ReadFile("testdata/stream.txt")
	if err != nil {
		t.Fatal(err)
	}
	var got []Event
	if err := readEvents(bytes.NewReader(data), func(e Event) error { got = append(got, e); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[0].Type != EventAlert || got[0].ID != 7 || got[0].Alert.Count != 3 ||
		got[1].Type != EventReady || got[2].Alert.Lamp != "ABS" || got[2].ID != 9 {
		t.Fatalf("events %+v", got)
	}
	for _, bad := range []string{
		"id: x\nevent: alert\ndata: {}\n\n",
		"id: 1\nevent: party\ndata: {}\n\n",
		"id: 1\nevent: alert\ndata: {\"schema\":\"other\"}\n\n",
		"id: 1\nevent: alert\ndata: " + strings.Repeat("x", maxEventLine+1) + "\n\n",
	} {
		if err := readEvents(strings.NewReader(bad), func(Event) error { return nil }); err == nil {
			t.Errorf("%.40q: no error", bad)
		}
	}
}

// FuzzReadEvents: whatever a server sends, the client neither panics nor
// hangs, and every alert it delivers written out again reads the same.
func FuzzReadEvents(f *testing.F) {
	data, err := os.ReadFile("testdata/stream.txt")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(data)
	f.Add([]byte("id: 1\nevent: ready\ndata: {}\n\n: x\n\nid:2\nevent:alert\ndata:{}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		var got []Event
		_ = readEvents(bytes.NewReader(data), func(e Event) error { got = append(got, e); return nil })
		for _, e := range got {
			if e.Type != EventAlert {
				continue
			}
			w := httptest.NewRecorder()
			if err := writeEvent(w, e.ID, &e.Alert); err != nil {
				t.Fatal(err)
			}
			var back []Event
			if err := readEvents(w.Body, func(e Event) error { back = append(back, e); return nil }); err != nil || len(back) != 1 {
				t.Fatalf("%q: read back %v, %v", w.Body.String(), back, err)
			}
			a, b := marshalOrDie(t, e.Alert), marshalOrDie(t, back[0].Alert)
			if a != b || back[0].ID != e.ID {
				t.Fatalf("round trip:\n%s\n%s", a, b)
			}
		}
	})
}

func marshalOrDie(t *testing.T, v any) string {
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// fuzzAPI is an API without NATS, for the request checks.
func fuzzAPI(t testing.TB) *API {
	a := &API{opts: Options{MaxCells: DefaultMaxCells, NoticeTTL: DefaultNoticeTTL}}
	a.opts.Now = fixedNow
	var err error
	if a.grid, err = gridOf(13); err != nil {
		t.Fatal(err)
	}
	return a
}

// FuzzNoticeRequest: a request body never panics the notice check, and a
// notice it accepts is small enough for vehicles, covers at most MaxCells
// cells and has a text of 1 to 500 characters.
func FuzzNoticeRequest(f *testing.F) {
	seeds, err := os.ReadFile("testdata/notices.txt")
	if err != nil {
		f.Fatal(err)
	}
	sc := bufio.NewScanner(bytes.NewReader(seeds))
	for sc.Scan() {
		f.Add(sc.Bytes())
	}
	a := fuzzAPI(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		var req NoticeRequest
		if json.Unmarshal(body, &req) != nil {
			return
		}
		n, cells, err := a.notice(req)
		if err != nil {
			return
		}
		if len(cells) == 0 || len(cells) > a.opts.MaxCells {
			t.Fatalf("%d cells", len(cells))
		}
		if n.Text == "" || utf8.RuneCountInString(n.Text) > maxNoticeText || !n.Expires.After(n.Issued) {
			t.Fatalf("notice %+v", n)
		}
		data, _ := json.Marshal(n)
		if len(data) <= wire.MaxMessageBytes {
			if back, err := wire.ParseNotice(data); err != nil || back.ID != n.ID {
				t.Fatalf("vehicles cannot read %s: %v", data, err)
			}
		}
	})
}

// FuzzParseFilter: query strings never panic the filter, and an accepted
// filter names a subject of the traffic view.
func FuzzParseFilter(f *testing.F) {
	for _, s := range []string{"kind=fog", "cell=479e758c&kind=warning", "bbox=11.5,48.1,11.6,48.2", "kind=&cell=", "bbox=179,-10,-179,10&kind=breakdown"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, query string) {
		q, err := url.ParseQuery(query)
		if err != nil {
			return
		}
		flt, err := parseFilter(q)
		if err != nil {
			return
		}
		s := flt.subject()
		if !strings.HasPrefix(s, "kanal.alerts.") || strings.Count(s, ".") != 3 || strings.ContainsAny(s, " >") {
			t.Fatalf("subject %q from %q", s, query)
		}
	})
}
