package fleet

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/kanal-dev/kanal/can"
)

// Play sends every frame of src to dst as it comes (a live Source paces
// them), until src ends (nil) or ctx does (ctx's error), and returns how
// many frames were sent: one simulated vehicle onto a SocketCAN interface
// for an `edge-agent run --from vcan0` to read.
func Play(ctx context.Context, src can.Source, dst can.Sink) (int, error) {
	n := 0
	for {
		t, err := src.Next(ctx)
		if errors.Is(err, io.EOF) {
			return n, nil
		}
		if err != nil {
			if ctx.Err() != nil {
				return n, ctx.Err()
			}
			return n, fmt.Errorf("fleet: play: %w", err)
		}
		if err := dst.Send(ctx, t); err != nil {
			if ctx.Err() != nil {
				return n, ctx.Err()
			}
			return n, fmt.Errorf("fleet: play: %w", err)
		}
		n++
	}
}
