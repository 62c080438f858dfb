package main

import (
	"github.com/spf13/cobra"

	"github.com/kanal-dev/kanal/internal/cli"
)

// newRootCmd builds the ingest-gateway command tree. The broker, bridge and
// alert commands arrive with their issues; today it has version only.
func newRootCmd() *cobra.Command {
	root := cli.NewRoot(cli.RootOptions{
		Use:       "ingest-gateway",
		Short:     "Kanal's cloud side: MQTT v5 ingest bridged into NATS JetStream",
		EnvPrefix: "KANAL_GATEWAY",
	})
	root.AddCommand(cli.NewVersionCmd(), newProcessCmd(), newAlertsCmd(), newNoticeCmd(), newCredentialsCmd())
	return root
}
