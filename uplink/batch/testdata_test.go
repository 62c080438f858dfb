package batch

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kanal-dev/kanal/catalog"
)

var update = flag.Bool("update", false, "rewrite testdata/batches from the round-trip cases")

const testdataDir = "testdata/batches"

// goldenCases are written to testdata/batches: payloads of schema 1 that
// every later version of this package must still decode to the same
// values. The fuzz tests start from them.
var goldenCases = []string{
	"empty batch", "booleans", "decimals", "DBC float noise", "float32 values", "arbitrary float64",
	"negative zero", "infinities", "NaN payloads", "cell ids at and above 2^63", "integers beyond 2^53",
	"times out of order", "extreme times", "interleaved ids", "mixed kinds",
}

// golden is the JSON beside each payload: the header and the values, each
// number as its float64 bits so that NaN payloads and -0 are exact.
type golden struct {
	Header Header        `json:"header"`
	Values []goldenValue `json:"values"`
}

type goldenValue struct {
	ID   uint32 `json:"id"`
	Time int64  `json:"t"`
	Bits string `json:"bits"`
	Num  string `json:"num"` // for people; Bits is what counts
}

func fileName(desc string, compressed bool) string {
	name := strings.NewReplacer(" ", "_", "^", "", ",", "").Replace(desc)
	if !compressed {
		name += "_uncompressed"
	}
	return filepath.Join(testdataDir, name)
}

func TestTestdata(t *testing.T) {
	if *update {
		writeTestdata(t)
	}
	files, err := filepath.Glob(filepath.Join(testdataDir, "*.batch"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 2*len(goldenCases) {
		t.Fatalf("%d payloads in %s, want %d: run go test -run TestTestdata -update", len(files), testdataDir, 2*len(goldenCases))
	}
	d := newDecoder(t, DecoderOptions{})
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			p, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			j, err := os.ReadFile(strings.TrimSuffix(f, ".batch") + ".json")
			if err != nil {
				t.Fatal(err)
			}
			var want golden
			if err := json.Unmarshal(j, &want); err != nil {
				t.Fatal(err)
			}
			got, err := d.Decode(p)
			if err != nil {
				t.Fatal(err)
			}
			if got.Header != want.Header {
				t.Fatalf("header %+v, want %+v", got.Header, want.Header)
			}
			wantValues := make([]catalog.Value, len(want.Values))
			for i, v := range want.Values {
				var bits uint64
				if _, err := fmt.Sscanf(v.Bits, "%x", &bits); err != nil {
					t.Fatal(err)
				}
				wantValues[i] = catalog.Value{ID: v.ID, Time: v.Time, Num: math.Float64frombits(bits)}
			}
			if diff := diffValues(got.Values, wantValues); diff != "" {
				t.Fatal(diff)
			}
		})
	}
}

func writeTestdata(t *testing.T) {
	if err := os.MkdirAll(testdataDir, 0o755); err != nil {
		t.Fatal(err)
	}
	cases := map[string][]catalog.Value{}
	for _, tc := range roundTripCases {
		cases[tc.desc] = tc.values
	}
	for i, desc := range goldenCases {
		vs, ok := cases[desc]
		if !ok {
			t.Fatalf("no round-trip case %q", desc)
		}
		for _, compressed := range []bool{true, false} {
			e := newEncoder(t, EncoderOptions{})
			e.noCompress = !compressed
			h := testHeader()
			h.Seq = uint64(i + 1)
			p, err := e.Encode(nil, &Batch{Header: h, Values: vs})
			if err != nil {
				t.Fatal(err)
			}
			b, err := newDecoder(t, DecoderOptions{}).Decode(p)
			if err != nil {
				t.Fatal(err)
			}
			g := golden{Header: b.Header, Values: []goldenValue{}}
			for _, v := range b.Values {
				g.Values = append(g.Values, goldenValue{ID: v.ID, Time: v.Time,
					Bits: fmt.Sprintf("%016x", math.Float64bits(v.Num)), Num: fmt.Sprint(v.Num)})
			}
			var j bytes.Buffer
			enc := json.NewEncoder(&j)
			enc.SetIndent("", " ")
			if err := enc.Encode(g); err != nil {
				t.Fatal(err)
			}
			base := fileName(desc, compressed)
			if err := os.WriteFile(base+".batch", p, 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(base+".json", j.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// testdataPayloads returns every payload in testdata/batches, for seeds.
func testdataPayloads(tb testing.TB) [][]byte {
	files, err := filepath.Glob(filepath.Join(testdataDir, "*.batch"))
	if err != nil {
		tb.Fatal(err)
	}
	var out [][]byte
	for _, f := range files {
		p, err := os.ReadFile(f)
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, p)
	}
	if len(out) == 0 {
		tb.Fatalf("no payloads in %s", testdataDir)
	}
	return out
}
