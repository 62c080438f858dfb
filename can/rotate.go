package can

import (
	"errors"
	"fmt"
	"os"
	"strconv"
)

// RotatingLogOptions configures a RotatingLog.
type RotatingLogOptions struct {
	// Path is the file being written. Required.
	Path string
	// MaxBytes starts a new file once the current one holds this many bytes;
	// 0 never rotates.
	MaxBytes int64
	// Keep is how many rotated files (Path.1 … Path.Keep) are kept; older
	// ones are removed. 0 keeps 10.
	Keep int
}

// RotatingLog writes a candump log to a file and rotates it by size the way
// logrotate does: the full file becomes Path.1, Path.1 becomes Path.2, and
// so on. A rotation happens only between lines, so every file is a complete
// candump log that canplayer and LogReader read on their own.
type RotatingLog struct {
	opts RotatingLogOptions
	w    *LogWriter
}

// OpenRotatingLog creates (or truncates) opts.Path.
func OpenRotatingLog(opts RotatingLogOptions) (*RotatingLog, error) {
	if opts.Path == "" {
		return nil, errors.New("rotating log: options: Path is required")
	}
	if opts.MaxBytes < 0 || opts.Keep < 0 {
		return nil, fmt.Errorf("rotating log %s: options: MaxBytes and Keep must not be negative", opts.Path)
	}
	if opts.Keep == 0 {
		opts.Keep = 10
	}
	r := &RotatingLog{opts: opts}
	return r, r.open()
}

func (r *RotatingLog) open() error {
	f, err := os.Create(r.opts.Path)
	if err != nil {
		return fmt.Errorf("rotating log: %w", err)
	}
	var totals map[string]uint32
	if r.w != nil {
		totals = r.w.dropTotals // "total drops" counts since the recording began
	}
	r.w = NewLogWriter(f)
	r.w.dropTotals = totals
	return nil
}

// Write writes one frame, rotating first if the file is full.
func (r *RotatingLog) Write(t Timed) error {
	if r.opts.MaxBytes > 0 && r.w.Size() >= r.opts.MaxBytes {
		if err := r.rotate(); err != nil {
			return err
		}
	}
	return r.w.Write(t)
}

// WriteDrops writes a DROPCOUNT line (see LogWriter.WriteDrops).
func (r *RotatingLog) WriteDrops(bus string, dropped uint32) error {
	return r.w.WriteDrops(bus, dropped)
}

func (r *RotatingLog) rotate() error {
	if err := r.w.Close(); err != nil {
		return err
	}
	p := r.opts.Path
	if err := os.Remove(p + "." + strconv.Itoa(r.opts.Keep)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("rotating log: %w", err)
	}
	for i := r.opts.Keep - 1; i >= 1; i-- {
		err := os.Rename(p+"."+strconv.Itoa(i), p+"."+strconv.Itoa(i+1))
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("rotating log: %w", err)
		}
	}
	if err := os.Rename(p, p+".1"); err != nil {
		return fmt.Errorf("rotating log: %w", err)
	}
	return r.open()
}

// Flush writes buffered lines to the file.
func (r *RotatingLog) Flush() error { return r.w.Flush() }

// Close flushes and closes the current file.
func (r *RotatingLog) Close() error { return r.w.Close() }
