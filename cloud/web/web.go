package web

import (
	"net/http"
	"strings"
)

// DefaultTitle heads the page when Options.Title is empty.
const DefaultTitle = "Kanal live"

// Options configures the page. The zero Options serve it with its defaults.
type Options struct {
	// Title heads the page and names its browser tab; "" means
	// DefaultTitle. It is text, escaped as such.
	Title string `yaml:"title"`
	// Version is shown in the page's footer: the gateway's version.
	Version string `yaml:"-"`
}

// contentSecurityPolicy keeps the page to its own origin: scripts, styles,
// images and connections. It is also the proof that it works offline:
// a browser refuses anything from elsewhere.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// Handler returns the page's handler, to be mounted at "/" of the
// gateway's HTTP server. It answers "/" and "/page/..." and 404 to any
// other path the server's other routes left to it. It cannot fail: every
// Options value is valid.
func Handler(opts Options) http.Handler {
	if opts.Title == "" {
		opts.Title = DefaultTitle
	}
	files := newAssets(opts)
	mux := http.NewServeMux()
	mux.Handle("GET /{$}", files.handler(indexName))
	for _, name := range files.names() {
		if name != indexName {
			mux.Handle("GET /page/"+name, files.handler(name))
		}
	}
	mux.HandleFunc("GET /page/cells", serveCells)
	return secured(mux)
}

// secured sets the headers every answer carries and refuses methods the
// page has no use for, before the mux (whose own 404 and 405 are plain
// text) sees the request.
func secured(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			h.Set("Allow", "GET, HEAD")
			http.Error(w, r.Method+" "+r.URL.Path+": the page takes GET and HEAD only", http.StatusMethodNotAllowed)
			return
		}
		if r.URL.Path != "/" && !strings.HasPrefix(r.URL.Path, "/page/") {
			http.Error(w, r.URL.Path+": not found (the live page is at /, the API under /v1/)", http.StatusNotFound)
			return
		}
		next.ServeHTTP(w, r)
	})
}
