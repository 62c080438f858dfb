// Command ingest-gateway is Kanal's cloud side: an MQTT v5 broker for the
// vehicles, bridged into NATS JetStream, with the alert processors.
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
