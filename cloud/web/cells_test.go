package web

import (
	"bufio"
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/kanal-dev/kanal/geo"
)

// TestCells: /page/cells gives each asked cell once, in the order asked,
// with the geometry of package geo, cacheable for good; a bad request is
// a 400 naming the token at fault.
func TestCells(t *testing.T) {
	h := Handler(Options{})
	munich := mustCell(t, 48.1450, 11.5650)
	east := mustCell(t, 48.1450, 11.5900)
	coarse := munich.Parent(10)
	tests := []struct {
		name   string
		query  string
		status int
		want   []geo.Cell
		errHas string
	}{
		{"one", "tokens=" + munich.Token(), 200, []geo.Cell{munich}, ""},
		{"several in order", "tokens=" + east.Token() + "," + munich.Token(), 200, []geo.Cell{east, munich}, ""},
		{"repeats once", "tokens=" + munich.Token() + "," + east.Token() + "," + munich.Token(), 200, []geo.Cell{munich, east}, ""},
		{"any level", "tokens=" + coarse.Token(), 200, []geo.Cell{coarse}, ""},
		{"missing", "", 400, nil, "given 0 times"},
		{"twice", "tokens=" + munich.Token() + "&tokens=" + east.Token(), 400, nil, "given 2 times"},
		{"empty", "tokens=", 400, nil, "tokens: empty"},
		{"empty entry", "tokens=" + munich.Token() + ",", 400, nil, `tokens[1]: cell token "": empty`},
		{"upper case", "tokens=" + strings.ToUpper(munich.Token()), 400, nil, "tokens[0]"},
		{"trailing zero", "tokens=" + munich.Token() + "0", 400, nil, "trailing zero"},
		{"not hex", "tokens=" + munich.Token() + ",zz", 400, nil, `tokens[1]: cell token "zz"`},
		{"too many", "tokens=" + strings.Repeat(munich.Token()+",", MaxTokens) + munich.Token(), 400, nil, "at most 256"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := get(t, h, "GET", "/page/cells?"+tt.query, nil)
			b := body(t, resp)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.status, b)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
			if tt.status != 200 {
				var e struct{ Error string }
				if err := json.Unmarshal([]byte(b), &e); err != nil || !strings.Contains(e.Error, tt.errHas) {
					t.Errorf("error %q (%v), want it to say %q", e.Error, err, tt.errHas)
				}
				if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
					t.Errorf("an error is cacheable: Cache-Control %q", cc)
				}
				return
			}
			if cc := resp.Header.Get("Cache-Control"); cc != "public, max-age=604800, immutable" {
				t.Errorf("Cache-Control %q", cc)
			}
			var list CellList
			if err := json.Unmarshal([]byte(b), &list); err != nil {
				t.Fatal(err)
			}
			if len(list.Cells) != len(tt.want) {
				t.Fatalf("%d cells, want %d", len(list.Cells), len(tt.want))
			}
			for i, c := range list.Cells {
				w := tt.want[i]
				if c.Token != w.Token() || c.Level != w.Level() || c.Centre != w.Center() || c.Corners != w.Corners() {
					t.Errorf("cell %d: %+v, want %s level %d centre %v corners %v", i, c, w.Token(), w.Level(), w.Center(), w.Corners())
				}
				if !w.Contains(c.Centre) {
					t.Errorf("cell %s does not contain its centre", c.Token)
				}
			}
		})
	}
}

// TestCellsJSONShape: the geometry has the field names of an alert
// (kanal.alert.v1: centre, corners, lat, lon), so the page draws both
// alike.
func TestCellsJSONShape(t *testing.T) {
	c := mustCell(t, 48.1450, 11.5650)
	resp := get(t, Handler(Options{}), "GET", "/page/cells?tokens="+c.Token(), nil)
	var raw struct {
		Cells []map[string]json.RawMessage `json:"cells"`
	}
	if err := json.Unmarshal([]byte(body(t, resp)), &raw); err != nil || len(raw.Cells) != 1 {
		t.Fatalf("%v %+v", err, raw)
	}
	for _, k := range []string{"token", "level", "centre", "corners"} {
		if _, ok := raw.Cells[0][k]; !ok {
			t.Errorf("no %q in %s", k, raw.Cells[0])
		}
	}
	var corners []map[string]float64
	if err := json.Unmarshal(raw.Cells[0]["corners"], &corners); err != nil || len(corners) != 4 {
		t.Fatalf("corners: %v %v", err, corners)
	}
	if _, ok := corners[0]["lon"]; !ok {
		t.Errorf("corner %v has no lon", corners[0])
	}
}

// TestCellsNoLogin: the geometry needs no credentials and ignores any.
func TestCellsNoLogin(t *testing.T) {
	c := mustCell(t, 48.1450, 11.5650)
	for _, auth := range []string{"", "Bearer nobody:wrong", "Basic Zm9vOmJhcg=="} {
		resp := get(t, Handler(Options{}), "GET", "/page/cells?tokens="+c.Token(), map[string]string{"Authorization": auth})
		if resp.StatusCode != http.StatusOK {
			t.Errorf("Authorization %q: status %d", auth, resp.StatusCode)
		}
	}
}

func mustCell(t *testing.T, lat, lon float64) geo.Cell {
	t.Helper()
	g, err := geo.NewGrid(geo.DefaultLevel)
	if err != nil {
		t.Fatal(err)
	}
	c, err := g.Cell(lat, lon)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// FuzzParseTokens: any query value gives cells or an error, never a panic;
// the cells are the distinct tokens given, each canonical.
func FuzzParseTokens(f *testing.F) {
	file, err := os.Open("testdata/tokens.txt")
	if err != nil {
		f.Fatal(err)
	}
	sc := bufio.NewScanner(file)
	for sc.Scan() {
		if line := sc.Text(); line != "" && !strings.HasPrefix(line, "#") {
			f.Add(line)
		}
	}
	file.Close()
	f.Fuzz(func(t *testing.T, s string) {
		cells, err := ParseTokens(s)
		if err != nil {
			if cells != nil {
				t.Fatalf("%q: cells %v with error %v", s, cells, err)
			}
			return
		}
		given := strings.Split(s, ",")
		if len(cells) == 0 || len(cells) > MaxTokens || len(cells) > len(given) {
			t.Fatalf("%q: %d cells of %d tokens", s, len(cells), len(given))
		}
		seen := map[geo.Cell]bool{}
		for i, c := range cells {
			if seen[c] {
				t.Fatalf("%q: cell %s twice", s, c.Token())
			}
			seen[c] = true
			back, err := geo.ParseToken(c.Token())
			if err != nil || back != c || !strings.Contains(","+s+",", ","+c.Token()+",") {
				t.Fatalf("%q: cell %d (%s) is not one of the tokens given: %v", s, i, c.Token(), err)
			}
		}
	})
}
