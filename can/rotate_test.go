package can

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRotatingLogOptions(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		desc string
		opts RotatingLogOptions
		want string
	}{
		{"no path", RotatingLogOptions{}, "Path is required"},
		{"negative size", RotatingLogOptions{Path: filepath.Join(dir, "a.log"), MaxBytes: -1}, "must not be negative"},
		{"negative keep", RotatingLogOptions{Path: filepath.Join(dir, "a.log"), Keep: -1}, "must not be negative"},
		{"directory missing", RotatingLogOptions{Path: filepath.Join(dir, "no", "a.log")}, "no such file"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			if _, err := OpenRotatingLog(tc.opts); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("OpenRotatingLog(%+v) = %v, want %q", tc.opts, err, tc.want)
			}
		})
	}
}

// Keep 0 means 10 files; MaxBytes 0 never rotates; Flush makes the lines
// readable before Close; every file is a complete log.
func TestRotatingLogDefaults(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "rec.log")
	r, err := OpenRotatingLog(RotatingLogOptions{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 1000 {
		if err := r.Write(Timed{Time: timeAt(int64(i)), Bus: "can0", Frame: frame(uint32(i)&0x7FF, 0, 1, 2)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.Flush(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil || strings.Count(string(data), "\n") != 1000 {
		t.Fatalf("after Flush: %d lines, %v", strings.Count(string(data), "\n"), err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if files, _ := filepath.Glob(path + ".*"); len(files) != 0 {
		t.Errorf("MaxBytes 0 rotated: %v", files)
	}

	r, err = OpenRotatingLog(RotatingLogOptions{Path: path, MaxBytes: 1})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 15 {
		if err := r.Write(Timed{Time: timeAt(int64(i)), Bus: "can0", Frame: frame(uint32(i), 0)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(path + ".*")
	if len(files) != 10 {
		t.Errorf("Keep 0 kept %d rotated files, want 10: %v", len(files), files)
	}
	for _, f := range append(files, path) {
		lr, err := OpenLog(f, LogReaderOptions{Strict: true})
		if err != nil {
			t.Fatal(err)
		}
		if n := readFrames(t, lr); n != 1 {
			t.Errorf("%s holds %d frames, want 1", f, n)
		}
		lr.Close()
	}
}

// TestRotatingLogDrops: the "total drops" of DROPCOUNT lines count since
// the recording began, across rotations, and a DROPCOUNT line goes into
// the same file as the frame it precedes.
func TestRotatingLogDrops(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rec.log")
	r, err := OpenRotatingLog(RotatingLogOptions{Path: path, MaxBytes: 1})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := r.Write(Timed{Time: timeAt(int64(i)), Bus: "can0", Frame: frame(0x10, 0, 0), Dropped: 2}); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.WriteDrops("can0", 1); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	for file, want := range map[string]string{
		path + ".2": "DROPCOUNT: dropped 2 CAN frames on 'can0' socket (total drops 2)\n(0000000000.000000) can0 010#00\n",
		path + ".1": "DROPCOUNT: dropped 2 CAN frames on 'can0' socket (total drops 4)\n(0000000000.000001) can0 010#00\n",
		path: "DROPCOUNT: dropped 2 CAN frames on 'can0' socket (total drops 6)\n(0000000000.000002) can0 010#00\n" +
			"DROPCOUNT: dropped 1 CAN frame on 'can0' socket (total drops 7)\n",
	} {
		data, err := os.ReadFile(file)
		if err != nil || string(data) != want {
			t.Errorf("%s: %v\n%s\nwant\n%s", file, err, data, want)
		}
	}
}
