package web

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/kanal-dev/kanal/geo"
)

// MaxTokens bounds the cells of one /page/cells request; the page asks in
// chunks of at most this many.
const MaxTokens = 256

// Cell is the geometry of one grid cell, as /page/cells answers it: the
// same centre and corners an alert carries (kanal.alert.v1), so the page
// draws every cell one way.
type Cell struct {
	Token  string     `json:"token"`
	Level  int        `json:"level"`
	Centre geo.LatLng `json:"centre"`
	// Corners are counter-clockwise, as geo.Cell.Corners gives them.
	Corners [4]geo.LatLng `json:"corners"`
}

// CellList is the body of GET /page/cells.
type CellList struct {
	Cells []Cell `json:"cells"`
}

// serveCells answers GET /page/cells?tokens=a,b,c with the cells in the
// order asked, each once. A cell's geometry never changes, so the answer
// may be cached for good.
func serveCells(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if n := len(q["tokens"]); n != 1 {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("tokens: given %d times, want once: /page/cells?tokens=TOKEN,TOKEN,...", n))
		return
	}
	cells, err := ParseTokens(q.Get("tokens"))
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	out := CellList{Cells: make([]Cell, len(cells))}
	for i, c := range cells {
		out.Cells[i] = Cell{Token: c.Token(), Level: c.Level(), Centre: c.Center(), Corners: c.Corners()}
	}
	w.Header().Set("Cache-Control", "public, max-age=604800, immutable")
	writeJSON(w, http.StatusOK, out)
}

// ParseTokens reads a comma-separated list of cell tokens: 1 to MaxTokens
// canonical tokens (geo.ParseToken), repeats dropped. An error names the
// token at fault by its position and text.
func ParseTokens(s string) ([]geo.Cell, error) {
	if s == "" {
		return nil, fmt.Errorf("tokens: empty, want 1 to %d cell tokens separated by commas", MaxTokens)
	}
	if n := strings.Count(s, ",") + 1; n > MaxTokens {
		return nil, fmt.Errorf("tokens: %d of them, at most %d per request", n, MaxTokens)
	}
	var out []geo.Cell
	seen := map[geo.Cell]bool{}
	for i, tok := range strings.Split(s, ",") {
		c, err := geo.ParseToken(tok)
		if err != nil {
			return nil, fmt.Errorf("tokens[%d]: %w", i, err)
		}
		if !seen[c] {
			seen[c] = true
			out = append(out, c)
		}
	}
	return out, nil
}

// apiError is the body of an error answer, as cloud/api writes it.
type apiError struct {
	Error string `json:"error"`
}

func writeError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, status, apiError{Error: msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v) // the client went away: nothing to do
}
