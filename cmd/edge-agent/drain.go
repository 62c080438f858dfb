package main

import (
	"context"
	"errors"
	"io"

	"github.com/kanal-dev/kanal/can"
)

// errEnough ends a drain early without an error: --count frames were done.
var errEnough = errors.New("enough frames")

// drain calls fn with every frame of src until src ends or ctx does (both a
// normal end, so an interrupted command still reports what it did), fn
// returns errEnough, or either fails. replay, record and decode read their
// sources this way.
func drain(ctx context.Context, src can.Source, fn func(t *can.Timed) error) error {
	for {
		t, err := src.Next(ctx)
		if err != nil {
			if errors.Is(err, io.EOF) || ctx.Err() != nil {
				return nil
			}
			return err
		}
		if err := fn(&t); err != nil {
			if errors.Is(err, errEnough) || ctx.Err() != nil {
				return nil
			}
			return err
		}
	}
}
