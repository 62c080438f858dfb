package can

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// OpenLog reads a file and names it in errors; a missing file is an error
// that names it, and Close closes the file.
func TestOpenLog(t *testing.T) {
	path := filepath.Join(t.TempDir(), "drive.log")
	if err := os.WriteFile(path, []byte("(1.000001) can0 123#00\nbad\n(1.000002) can0 123#01"), 0o644); err != nil {
		t.Fatal(err)
	}
	lr, err := OpenLog(path, LogReaderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if n := readFrames(t, lr); n != 2 || lr.Line() != 3 {
		t.Errorf("%d frames in %d lines, want 2 in 3 (the last without newline)", n, lr.Line())
	}
	if n, first := lr.Malformed(); n != 1 || first.File != path || first.Line != 2 {
		t.Errorf("malformed %d, first %v; want line 2 of %s", n, first, path)
	}
	if err := lr.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenLog(filepath.Join(t.TempDir(), "missing.log"), LogReaderOptions{}); !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), "missing.log") {
		t.Errorf("missing file: %v", err)
	}
	if lr := NewLogReader(strings.NewReader(""), LogReaderOptions{}); lr.Close() != nil || lr.opts.Name != "candump" {
		t.Errorf("a reader of a non-closer: name %q", lr.opts.Name)
	}
}

// A cancelled context ends a long read within 4096 lines.
func TestLogReaderContext(t *testing.T) {
	in := strings.Repeat("(1.000001) can0 123#00\n", 10000)
	lr := NewLogReader(strings.NewReader(in), LogReaderOptions{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	n := 0
	for {
		_, err := lr.Next(ctx)
		if errors.Is(err, context.Canceled) {
			break
		}
		if err != nil {
			t.Fatalf("after %d frames: %v", n, err)
		}
		n++
	}
	if n >= 4096 {
		t.Errorf("read %d frames after the context ended", n)
	}
}

// failWriter fails every write, as a full disk does.
type failWriter struct{ closed bool }

func (w *failWriter) Write([]byte) (int, error) { return 0, errors.New("no space left on device") }
func (w *failWriter) Close() error              { w.closed = true; return nil }

// LogWriter is a Sink; its errors say what failed, and Close closes the
// underlying writer even when the flush fails.
func TestLogWriter(t *testing.T) {
	var b bytes.Buffer
	lw := NewLogWriter(&b)
	f, _ := ParseFrame([]byte("123##B11"))
	var sink Sink = lw
	if err := sink.Send(context.Background(), Timed{Time: timeAt(1), Bus: "vcan0", Frame: f}); err != nil {
		t.Fatal(err)
	}
	if lw.Size() != int64(len("(0000000000.000001) vcan0 123##B11\n")) || b.Len() != 0 {
		t.Errorf("size %d, %d bytes written before Flush", lw.Size(), b.Len())
	}
	if err := lw.Close(); err != nil || b.String() != "(0000000000.000001) vcan0 123##B11\n" {
		t.Errorf("close: %v, wrote %q", err, b.String())
	}

	fw := &failWriter{}
	lw = NewLogWriter(fw)
	if err := lw.Write(Timed{Time: timeAt(1), Bus: "can0", Frame: f}); err != nil {
		t.Fatalf("a buffered write failed: %v", err)
	}
	if err := lw.Close(); err == nil || !strings.Contains(err.Error(), "flush candump log") || !fw.closed {
		t.Errorf("close over a failing writer: %v (closed %v)", err, fw.closed)
	}
	var _ io.Closer = lw
}
