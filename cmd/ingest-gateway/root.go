package main

import (
	"github.com/spf13/cobra"

	"github.com/kanal-dev/kanal/internal/cli"
)

// newRootCmd builds the ingest-gateway command tree. Each subcommand lives
// in a file of its own named after it.
func newRootCmd() *cobra.Command {
	root := cli.NewRoot(cli.RootOptions{
		Use:       "ingest-gateway",
		Short:     "Kanal's cloud side: MQTT v5 ingest bridged into NATS JetStream",
		EnvPrefix: "KANAL_GATEWAY",
	})
	root.AddCommand(cli.NewVersionCmd(), newRunCmd(), newCheckConfigCmd(), newProcessCmd(), newAlertsCmd(), newNoticeCmd(), newCredentialsCmd())
	cli.PrefixErrors(root)
	return root
}
