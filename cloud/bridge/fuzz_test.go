package bridge

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/kanal-dev/kanal/uplink/batch"
)

// seedPayloads returns the batch codec's testdata payloads: real batches
// of every value shape, compressed and not.
func seedPayloads(tb testing.TB) [][]byte {
	tb.Helper()
	files, err := filepath.Glob("../../uplink/batch/testdata/batches/*.batch")
	if err != nil || len(files) == 0 {
		tb.Fatalf("no testdata batches: %v", err)
	}
	var out [][]byte
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

// FuzzValidate: no payload makes validation panic, and only a payload
// whose header reads and names the sender passes; every refusal has one of
// the dead-letter reasons, and the right one.
func FuzzValidate(f *testing.F) {
	for _, p := range seedPayloads(f) {
		h, err := batch.ReadHeader(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(h.Vehicle, p)
		f.Add("someone-else", p)
		f.Add(h.Vehicle, p[:len(p)/2])
	}
	f.Add("veh", schemaTwo())
	f.Add("veh", []byte{})
	const max = 1 << 14
	f.Fuzz(func(t *testing.T, identity string, payload []byte) {
		h, bad := validate(identity, payload, max)
		read, err := batch.ReadHeader(payload)
		if bad == nil {
			if err != nil || h != read || h.Vehicle != identity || len(payload) > max {
				t.Fatalf("passed: %+v for %q (ReadHeader: %+v, %v; %d bytes)", h, identity, read, err, len(payload))
			}
			return
		}
		if h != (batch.Header{}) {
			t.Fatalf("refused (%s) with a header %+v", bad.reason, h)
		}
		var want string
		switch {
		case len(payload) > max:
			want = ReasonTooLarge
		case errors.Is(err, batch.ErrSchema):
			want = ReasonSchema
		case err != nil:
			want = ReasonMalformed
		default:
			want = ReasonVehicleMismatch
		}
		if bad.reason != want || bad.detail == "" {
			t.Fatalf("refused as %q (%q), want %q", bad.reason, bad.detail, want)
		}
	})
}
