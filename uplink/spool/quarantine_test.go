package spool

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestQuarantine(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, Options{})
	recs := appendN(t, s, 3, 100, func(i int) bool { return i == 1 })
	if err := s.Quarantine(2, "payload format invalid\n(0x99)"); err != nil {
		t.Fatal(err)
	}
	qdir := filepath.Join(dir, quarantineSub)
	if got := readFile(t, filepath.Join(qdir, "2"+batchExt)); !bytes.Equal(got, recs[1].Data) {
		t.Errorf("quarantined bytes differ from what was appended")
	}
	why := string(readFile(t, filepath.Join(qdir, "2"+reasonExt)))
	for _, want := range []string{"id: 2\n", "reason: payload format invalid (0x99)\n", "priority: true\n",
		"bytes: " + strconv.Itoa(len(recs[1].Data)) + "\n"} {
		if !strings.Contains(why, want) {
			t.Errorf("reason file lacks %q:\n%s", want, why)
		}
	}
	sameRecords(t, drain(t, s), without(recs, 2))
	if st := s.Stats(); st.Quarantined != 1 || st.Records != 2 {
		t.Errorf("stats: %+v", st)
	}
	if err := s.Quarantine(2, "again"); !errors.Is(err, ErrNotFound) {
		t.Errorf("second Quarantine = %v, want ErrNotFound", err)
	}
	if err := s.Ack(2); err != nil {
		t.Errorf("Ack of a quarantined record = %v, want nil", err)
	}
	s.Close()
	s = open(t, dir, Options{})
	sameRecords(t, drain(t, s), without(recs, 2))
}

// The quarantine folder keeps the newest batches within its bound.
func TestQuarantineTrim(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, Options{QuarantineBytes: 2000})
	recs := appendN(t, s, 6, 600, nil)
	for _, r := range recs {
		if err := s.Quarantine(r.ID, "payload format invalid"); err != nil {
			t.Fatal(err)
		}
	}
	qdir := filepath.Join(dir, quarantineSub)
	var total int64
	m, _ := filepath.Glob(filepath.Join(qdir, "*"))
	for _, p := range m {
		fi, _ := os.Stat(p)
		total += fi.Size()
	}
	if total > 2000 {
		t.Errorf("quarantine holds %d bytes, bound 2000", total)
	}
	for _, id := range []string{"5", "6"} {
		if _, err := os.Stat(filepath.Join(qdir, id+batchExt)); err != nil {
			t.Errorf("newest quarantined batch %s gone: %v", id, err)
		}
	}
	if _, err := os.Stat(filepath.Join(qdir, "1"+batchExt)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("oldest quarantined batch kept: %v", err)
	}
	if st := s.Stats(); st.Quarantined != 6 {
		t.Errorf("quarantined %d, want 6", st.Quarantined)
	}
	// A reopen sees the same folder and trims from there.
	s.Close()
	s = open(t, dir, Options{QuarantineBytes: 2000})
	if s.quar.bytes != total || len(s.quar.files) != 2 {
		t.Errorf("reopened quarantine: %d bytes in %d batches, want %d in 2", s.quar.bytes, len(s.quar.files), total)
	}
}

// Ids of quarantined batches are not given again, even if the segments that
// held them are gone.
func TestQuarantineIDsNotReused(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, Options{})
	appendN(t, s, 3, 10, nil)
	if err := s.Quarantine(3, "payload format invalid"); err != nil {
		t.Fatal(err)
	}
	s.Close()
	for _, ext := range []string{segExt, ackExt} {
		m, _ := filepath.Glob(filepath.Join(dir, "*"+ext))
		for _, p := range m {
			os.Remove(p)
		}
	}
	s = open(t, dir, Options{})
	r, err := s.Append([]byte("x"), false)
	if err != nil {
		t.Fatal(err)
	}
	if r.ID != 4 {
		t.Errorf("id %d, want 4 (3 is in quarantine)", r.ID)
	}
}
