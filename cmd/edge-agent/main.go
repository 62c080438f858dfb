// Command edge-agent is Kanal's in-vehicle side: it reads SocketCAN buses or
// candump logs, decodes them through DBC files and sends the normalized
// signals to the ingest gateway.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/kanal-dev/kanal/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Execute(ctx, newRootCmd())
	stop()
	os.Exit(code)
}
