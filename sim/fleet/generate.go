package fleet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"

	"golang.org/x/sync/errgroup"

	"github.com/kanal-dev/kanal/can"
)

// each runs body on a new generator of every vehicle, GOMAXPROCS at a time,
// and returns the generators (their reports are the truth's input).
func (f *Fleet) each(ctx context.Context, body func(ctx context.Context, v *Vehicle) error) ([]*Vehicle, error) {
	vs := make([]*Vehicle, f.Len())
	parent := ctx
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(runtime.GOMAXPROCS(0))
	for i := range vs {
		if ctx.Err() != nil {
			break
		}
		g.Go(func() error {
			v, err := f.Vehicle(i)
			if err != nil {
				return err
			}
			if err := body(ctx, v); err != nil {
				return err
			}
			v.tx = nil // its frames are done: keep the reports, not the encoder state
			vs[i] = v
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	if err := parent.Err(); err != nil {
		return nil, err
	}
	return vs, nil
}

// drain reads v's frames to the end, giving each to sink when it is not
// nil, and checks ctx every few thousand frames.
func drain(ctx context.Context, v *Vehicle, sink func(can.Timed) error) error {
	for n := 0; ; n++ {
		if n%4096 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		t, err := v.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if sink != nil {
			if err := sink(t); err != nil {
				return err
			}
		}
	}
}

// Truth generates every vehicle's frames, without keeping them, and
// returns what they should make the cloud's rules raise.
func (f *Fleet) Truth(ctx context.Context, rules Rules) (*Truth, error) {
	if err := rules.Check(); err != nil {
		return nil, err // before minutes of work, not after
	}
	vs, err := f.each(ctx, func(ctx context.Context, v *Vehicle) error { return drain(ctx, v, nil) })
	if err != nil {
		return nil, err
	}
	return f.TruthOf(vs, rules)
}

// TruthFile is the name of the truth WriteLogs writes beside the logs.
const TruthFile = "truth.json"

// WriteLogs writes one candump log per vehicle into dir (ID.log, in the
// `candump -l` format that `edge-agent replay` plays onto vcan) and the
// truth as TruthFile, and returns the truth. dir is created if needed.
func (f *Fleet) WriteLogs(ctx context.Context, dir string, rules Rules) (*Truth, error) {
	if _, _, err := rules.withDefaults(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("fleet: %w", err)
	}
	vs, err := f.each(ctx, func(ctx context.Context, v *Vehicle) error {
		path := filepath.Join(dir, v.ID+".log")
		file, err := os.Create(path)
		if err != nil {
			return fmt.Errorf("fleet: %w", err)
		}
		w := can.NewLogWriter(file)
		err = drain(ctx, v, w.Write)
		if cerr := w.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("fleet: write %s: %w", path, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	tr, err := f.TruthOf(vs, rules)
	if err != nil {
		return nil, err
	}
	if err := tr.WriteFile(filepath.Join(dir, TruthFile)); err != nil {
		return nil, err
	}
	return tr, nil
}

// WriteFile writes the truth as indented JSON.
func (tr *Truth) WriteFile(path string) error {
	data, err := json.MarshalIndent(tr, "", "  ")
	if err != nil {
		return fmt.Errorf("fleet: truth: %w", err)
	}
	if err := os.WriteFile(path, append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("fleet: truth: %w", err)
	}
	return nil
}

// ReadTruth reads a truth file written by WriteFile.
func ReadTruth(path string) (*Truth, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("fleet: truth: %w", err)
	}
	var tr Truth
	if err := json.Unmarshal(data, &tr); err != nil {
		return nil, fmt.Errorf("fleet: truth %s: %w", path, err)
	}
	return &tr, nil
}
