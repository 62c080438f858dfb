package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"slices"
	"time"
)

//go:embed assets
var embedded embed.FS

// indexName is the page itself, a template of Options.
const indexName = "index.html"

// index is the page's template, parsed once: a mistake in it is a defect
// of the build, which the package's tests catch.
var index = template.Must(template.ParseFS(embedded, "assets/"+indexName))

// contentTypes are the types of the embedded files by extension, set
// explicitly rather than sniffed or taken from the system's MIME tables,
// which differ between machines.
var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".svg":  "image/svg+xml",
}

// asset is one file of the page, ready to serve.
type asset struct {
	body        []byte
	contentType string
	etag        string
}

// assets are the page's files by name, index.html rendered with the
// Options.
type assets map[string]asset

func newAssets(opts Options) assets {
	out := assets{}
	entries, _ := fs.ReadDir(embedded, "assets") // embedded: it is there
	for _, e := range entries {
		name := e.Name()
		ct, ok := contentTypes[path.Ext(name)]
		if e.IsDir() || !ok {
			continue
		}
		body, _ := embedded.ReadFile("assets/" + name)
		if name == indexName {
			var b bytes.Buffer
			// Title and Version are strings: executing cannot fail.
			_ = index.Execute(&b, struct{ Title, Version string }{opts.Title, opts.Version})
			body = b.Bytes()
		}
		sum := sha256.Sum256(body)
		out[name] = asset{body: body, contentType: ct, etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
	}
	return out
}

// names lists the files, sorted.
func (a assets) names() []string {
	out := make([]string, 0, len(a))
	for name := range a {
		out = append(out, name)
	}
	slices.Sort(out)
	return out
}

// handler serves one file. Browsers revalidate it on every load
// (no-cache) and get 304 while its ETag, a hash of the content, holds: a
// new gateway binary's page is picked up at once, and an unchanged one
// costs a header.
func (a assets) handler(name string) http.Handler {
	f := a[name]
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Type", f.contentType)
		h.Set("Cache-Control", "no-cache")
		h.Set("ETag", f.etag)
		http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(f.body))
	})
}
