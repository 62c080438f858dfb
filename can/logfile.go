package can

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"
)

// LineError is a malformed candump line. Readers count it and read on,
// unless they were opened strict.
type LineError struct {
	File string
	Line int
	Err  error
}

func (e *LineError) Error() string { return fmt.Sprintf("%s:%d: %v", e.File, e.Line, e.Err) }
func (e *LineError) Unwrap() error { return e.Err }

// LogReaderOptions configures a LogReader. The zero value reads leniently.
type LogReaderOptions struct {
	// Name names the input in errors; OpenLog sets it to the path.
	Name string
	// Strict makes the first malformed line end the read with a *LineError.
	Strict bool
	// OnMalformed, if set, is called for every malformed line that is skipped.
	OnMalformed func(*LineError)
	// OnDrops, if set, is called for every DROPCOUNT line (see DropReport).
	// Those lines are not malformed, in strict mode either.
	OnDrops func(DropReport)
}

// LogReader reads a candump log (`candump -l` / `-L` format). Blank lines
// are skipped silently; malformed lines are skipped, counted and reported;
// the DROPCOUNT lines of `candump -d` are counted and reported apart.
// Timestamps are taken as written, even when they go backwards (joined logs
// do that). Reading allocates only when a new interface name appears.
type LogReader struct {
	r          *bufio.Reader
	closer     io.Closer
	opts       LogReaderOptions
	line       int
	malformed  int
	firstBad   *LineError
	dropLines  int
	dropFrames uint64
	buses      [][]byte // interned interface names, with busNames
	busNames   []string
	err        error
}

// NewLogReader reads a candump log from r.
func NewLogReader(r io.Reader, opts LogReaderOptions) *LogReader {
	if opts.Name == "" {
		opts.Name = "candump"
	}
	lr := &LogReader{r: bufio.NewReaderSize(r, 64<<10), opts: opts}
	if c, ok := r.(io.Closer); ok {
		lr.closer = c
	}
	return lr
}

// OpenLog opens a candump log file; "-" reads standard input.
func OpenLog(path string, opts LogReaderOptions) (*LogReader, error) {
	if opts.Name == "" {
		opts.Name = path
	}
	if path == "-" {
		if opts.Name == "-" {
			opts.Name = "stdin"
		}
		return NewLogReader(io.NopCloser(os.Stdin), opts), nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open candump log: %w", err)
	}
	return NewLogReader(f, opts), nil
}

// Next returns the next well-formed frame, or io.EOF at the end of the log.
// ctx is checked every 4096 lines, so a huge file can be interrupted.
func (lr *LogReader) Next(ctx context.Context) (Timed, error) {
	for {
		if lr.err != nil {
			return Timed{}, lr.err
		}
		line, err := lr.readLine()
		if err != nil {
			lr.err = err
			continue
		}
		lr.line++
		if lr.line&0xFFF == 0 && ctx.Err() != nil {
			lr.err = ctx.Err()
			continue
		}
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		if bytes.HasPrefix(line, dropPrefix) {
			if e := lr.dropCount(line); e != nil {
				lr.err = e
			}
			continue
		}
		l, err := parseLogLine(line)
		if err != nil {
			if e := lr.bad(err); e != nil {
				lr.err = e
			}
			continue
		}
		return Timed{Time: time.Unix(l.sec, l.nsec).UTC(), Bus: lr.intern(l.bus), Frame: l.frame}, nil
	}
}

// readLine returns the next line without its newline. A line longer than the 64 KiB buffer
// is consumed and reported as malformed.
func (lr *LogReader) readLine() ([]byte, error) {
	line, err := lr.r.ReadSlice('\n')
	switch {
	case err == nil:
		return line[:len(line)-1], nil
	case errors.Is(err, bufio.ErrBufferFull):
		for errors.Is(err, bufio.ErrBufferFull) {
			_, err = lr.r.ReadSlice('\n')
		}
		if err != nil && err != io.EOF {
			return nil, fmt.Errorf("read %s: %w", lr.opts.Name, err)
		}
		lr.line++
		if e := lr.bad(errors.New("line too long")); e != nil {
			return nil, e
		}
		if err == io.EOF {
			return nil, io.EOF
		}
		return lr.readLine()
	case err == io.EOF && len(line) > 0:
		return line, nil // last line without newline
	case err == io.EOF:
		return nil, io.EOF
	default:
		return nil, fmt.Errorf("read %s: %w", lr.opts.Name, err)
	}
}

// bad records a malformed line; it returns the error to stop on in strict mode.
func (lr *LogReader) bad(err error) error {
	e := &LineError{File: lr.opts.Name, Line: lr.line, Err: err}
	lr.malformed++
	if lr.firstBad == nil {
		lr.firstBad = e
	}
	if lr.opts.Strict {
		return e
	}
	if lr.opts.OnMalformed != nil {
		lr.opts.OnMalformed(e)
	}
	return nil
}

// dropCount records a DROPCOUNT line; one that does not parse is malformed.
func (lr *LogReader) dropCount(line []byte) error {
	bus, dropped, total, err := parseDropCount(line)
	if err != nil {
		return lr.bad(err)
	}
	lr.dropLines++
	lr.dropFrames += uint64(dropped)
	if lr.opts.OnDrops != nil {
		lr.opts.OnDrops(DropReport{File: lr.opts.Name, Line: lr.line, Bus: lr.intern(bus), Dropped: dropped, Total: total})
	}
	return nil
}

func (lr *LogReader) intern(b []byte) string {
	for i, s := range lr.buses {
		if bytes.Equal(s, b) {
			return lr.busNames[i]
		}
	}
	s := string(b)
	lr.buses = append(lr.buses, []byte(s))
	lr.busNames = append(lr.busNames, s)
	return s
}

// Line returns the number of lines read so far.
func (lr *LogReader) Line() int { return lr.line }

// Malformed returns how many lines were skipped as malformed, and the first.
func (lr *LogReader) Malformed() (int, *LineError) { return lr.malformed, lr.firstBad }

// Drops returns how many DROPCOUNT lines were read and the sum of the
// frames they say the recorder dropped.
func (lr *LogReader) Drops() (lines int, frames uint64) { return lr.dropLines, lr.dropFrames }

// Close closes the underlying file.
func (lr *LogReader) Close() error {
	if lr.closer == nil {
		return nil
	}
	return lr.closer.Close()
}

// LogWriter writes frames in the candump log format, byte for byte as
// `candump -l` does. It buffers; call Flush or Close.
type LogWriter struct {
	w   *bufio.Writer
	c   io.Closer
	buf []byte
	n   int64

	// dropTotals are the frames dropped per bus since the recording
	// began, for the "total drops" of DROPCOUNT lines. RotatingLog hands
	// them from one file to the next.
	dropTotals map[string]uint32
}

// NewLogWriter writes a candump log to w. If w is an io.Closer, Close closes it.
func NewLogWriter(w io.Writer) *LogWriter {
	lw := &LogWriter{w: bufio.NewWriterSize(w, 64<<10), buf: make([]byte, 0, 256)}
	if c, ok := w.(io.Closer); ok {
		lw.c = c
	}
	return lw
}

// Write writes one frame as a log line. A frame the kernel dropped others
// before (t.Dropped) is preceded by a DROPCOUNT line, so the gap is in the
// log where it happened.
func (lw *LogWriter) Write(t Timed) error {
	if t.Dropped > 0 {
		if err := lw.WriteDrops(t.Bus, t.Dropped); err != nil {
			return err
		}
	}
	lw.buf = AppendLogLine(lw.buf[:0], t)
	return lw.writeLine()
}

// WriteDrops writes a DROPCOUNT line, as `candump -l -d` does, for dropped
// frames lost on bus at this point of the log. Write calls it for a frame
// with Dropped set; a recorder calls it at its end for drops the kernel
// counted after the last frame, which candump never reports.
func (lw *LogWriter) WriteDrops(bus string, dropped uint32) error {
	if dropped == 0 {
		return nil
	}
	if lw.dropTotals == nil {
		lw.dropTotals = make(map[string]uint32)
	}
	total := lw.dropTotals[bus] + dropped
	lw.dropTotals[bus] = total
	lw.buf = AppendDropCount(lw.buf[:0], bus, dropped, total)
	return lw.writeLine()
}

// writeLine writes lw.buf and a newline.
func (lw *LogWriter) writeLine() error {
	lw.buf = append(lw.buf, '\n')
	n, err := lw.w.Write(lw.buf)
	lw.n += int64(n)
	if err != nil {
		return fmt.Errorf("write candump line: %w", err)
	}
	return nil
}

// Send implements Sink.
func (lw *LogWriter) Send(_ context.Context, t Timed) error { return lw.Write(t) }

// Size returns the bytes written so far, flushed or not.
func (lw *LogWriter) Size() int64 { return lw.n }

// Flush writes buffered lines to the underlying writer.
func (lw *LogWriter) Flush() error {
	if err := lw.w.Flush(); err != nil {
		return fmt.Errorf("flush candump log: %w", err)
	}
	return nil
}

// Close flushes and closes the underlying writer.
func (lw *LogWriter) Close() error {
	err := lw.Flush()
	if lw.c != nil {
		if cerr := lw.c.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("close candump log: %w", cerr)
		}
	}
	return err
}
