package web

import (
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

// get serves one request through a Handler.
func get(t *testing.T, h http.Handler, method, target string, header map[string]string) *http.Response {
	t.Helper()
	req := httptest.NewRequest(method, target, nil)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result()
}

func body(t *testing.T, resp *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestAssets: every file of the page is served with its type, the
// security headers, and revalidation by ETag.
func TestAssets(t *testing.T) {
	h := Handler(Options{})
	tests := []struct {
		path, contentType, contains string
	}{
		{"/", "text/html; charset=utf-8", `<script src="page/app.js" defer></script>`},
		{"/page/app.js", "text/javascript; charset=utf-8", "class SSEParser"},
		{"/page/style.css", "text/css; charset=utf-8", "--fog:"},
		{"/page/icon.svg", "image/svg+xml", "<svg"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			resp := get(t, h, "GET", tt.path, nil)
			b := body(t, resp)
			if resp.StatusCode != 200 {
				t.Fatalf("status %d: %s", resp.StatusCode, b)
			}
			for k, want := range map[string]string{
				"Content-Type":            tt.contentType,
				"Cache-Control":           "no-cache",
				"X-Content-Type-Options":  "nosniff",
				"Referrer-Policy":         "no-referrer",
				"Content-Security-Policy": contentSecurityPolicy,
			} {
				if got := resp.Header.Get(k); got != want {
					t.Errorf("%s: %q, want %q", k, got, want)
				}
			}
			if !strings.Contains(b, tt.contains) {
				t.Errorf("body lacks %q", tt.contains)
			}
			etag := resp.Header.Get("ETag")
			if !regexp.MustCompile(`^"[0-9a-f]{16}"$`).MatchString(etag) {
				t.Fatalf("ETag %q", etag)
			}
			if r := get(t, h, "GET", tt.path, map[string]string{"If-None-Match": etag}); r.StatusCode != http.StatusNotModified {
				t.Errorf("If-None-Match %s: status %d, want 304", etag, r.StatusCode)
			}
			if r := get(t, h, "GET", tt.path, map[string]string{"If-None-Match": `"0000000000000000"`}); r.StatusCode != 200 {
				t.Errorf("a stale ETag: status %d, want 200", r.StatusCode)
			}
			head := get(t, h, "HEAD", tt.path, nil)
			if head.StatusCode != 200 || head.Header.Get("Content-Type") != tt.contentType || body(t, head) != "" {
				t.Errorf("HEAD: status %d, type %q", head.StatusCode, head.Header.Get("Content-Type"))
			}
		})
	}
}

// TestAssetsChangeETag: the ETag follows the content, so a page rendered
// with other options (or a new binary) is fetched again.
func TestAssetsChangeETag(t *testing.T) {
	a := get(t, Handler(Options{Version: "v1"}), "GET", "/", nil).Header.Get("ETag")
	b := get(t, Handler(Options{Version: "v2"}), "GET", "/", nil).Header.Get("ETag")
	c := get(t, Handler(Options{Version: "v2"}), "GET", "/", nil).Header.Get("ETag")
	if a == b || b != c {
		t.Errorf("ETags v1 %s, v2 %s, v2 again %s: want a change with the content only", a, b, c)
	}
}

// TestIndexOptions: the title and version appear in the page as text,
// escaped.
func TestIndexOptions(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		want []string
		not  []string
	}{
		{"defaults", Options{}, []string{"<title>Kanal live</title>", "<h1>Kanal live</h1>"}, nil},
		{"title and version", Options{Title: "Fleet Munich", Version: "v1.2.3"},
			[]string{"<title>Fleet Munich</title>", "Kanal v1.2.3"}, []string{"Kanal live"}},
		{"escaped", Options{Title: `<script>alert(1)</script>`, Version: `"><b>`},
			[]string{"&lt;script&gt;alert(1)&lt;/script&gt;", "&#34;&gt;&lt;b&gt;"}, []string{"<script>alert(1)", `"><b>`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := body(t, get(t, Handler(tt.opts), "GET", "/", nil))
			for _, w := range tt.want {
				if !strings.Contains(b, w) {
					t.Errorf("page lacks %q", w)
				}
			}
			for _, n := range tt.not {
				if strings.Contains(b, n) {
					t.Errorf("page has %q", n)
				}
			}
		})
	}
}

// TestRoutes: what the handler refuses, with the status and headers a
// browser or a script can act on.
func TestRoutes(t *testing.T) {
	h := Handler(Options{})
	tests := []struct {
		method, path string
		status       int
		allow        string
	}{
		{"GET", "/nope", 404, ""},
		{"GET", "/favicon.ico", 404, ""},
		{"GET", "/page/", 404, ""},
		{"GET", "/page/nope.js", 404, ""},
		{"GET", "/page/index.html", 404, ""}, // the page is at / only
		{"GET", "/assets/app.js", 404, ""},   // the embed directory is not served as such
		{"GET", "/page/app.js/", 404, ""},
		{"POST", "/", 405, "GET, HEAD"},
		{"PUT", "/page/app.js", 405, "GET, HEAD"},
		{"DELETE", "/page/cells", 405, "GET, HEAD"},
		{"GET", "/?x=1", 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			resp := get(t, h, tt.method, tt.path, nil)
			if resp.StatusCode != tt.status {
				t.Errorf("status %d, want %d", resp.StatusCode, tt.status)
			}
			if got := resp.Header.Get("Allow"); got != tt.allow {
				t.Errorf("Allow %q, want %q", got, tt.allow)
			}
			if resp.Header.Get("X-Content-Type-Options") != "nosniff" {
				t.Error("no nosniff header")
			}
		})
	}
}

// TestAssetsSelfContained: the page loads nothing from elsewhere: every
// src and href is relative to the page, and no file names another host
// (the SVG namespace is a name, not a request).
func TestAssetsSelfContained(t *testing.T) {
	a := newAssets(Options{})
	external := regexp.MustCompile(`(?i)(https?:)?//[a-z0-9.-]+\.[a-z]{2,}`)
	for _, name := range a.names() {
		text := string(a[name].body)
		for _, m := range external.FindAllString(text, -1) {
			if m != "http://www.w3.org" {
				t.Errorf("%s refers to %s", name, m)
			}
		}
		if strings.Contains(text, "@import") {
			t.Errorf("%s imports a stylesheet", name)
		}
	}
	page := string(a[indexName].body)
	refs := regexp.MustCompile(`(?:src|href)="([^"]*)"`).FindAllStringSubmatch(page, -1)
	if len(refs) < 3 {
		t.Fatalf("index.html has %d references: the pattern is broken", len(refs))
	}
	for _, m := range refs {
		ref := m[1]
		if strings.HasPrefix(ref, "#") {
			continue // a symbol of the page itself
		}
		name, ok := strings.CutPrefix(ref, "page/")
		if !ok {
			t.Errorf("index.html refers to %q: want page/... (relative, so a proxy may mount the gateway under a prefix)", ref)
			continue
		}
		if _, ok := a[name]; !ok {
			t.Errorf("index.html refers to %q, which is not embedded", ref)
		}
	}
	script := string(a["app.js"].body)
	for _, m := range regexp.MustCompile(`'((?:v1|page)/[a-z/]+)'`).FindAllStringSubmatch(script, -1) {
		switch m[1] {
		case "v1/alerts", "v1/alerts/stream", "v1/cells", "page/cells":
		default:
			t.Errorf("app.js asks for %s, which neither the API nor the page serves", m[1])
		}
	}
}
