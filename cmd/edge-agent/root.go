package main

import (
	"github.com/spf13/cobra"

	"github.com/kanal-dev/kanal/internal/cli"
)

// newRootCmd builds the edge-agent command tree. Each subcommand lives in a
// file of its own named after it.
func newRootCmd() *cobra.Command {
	root := cli.NewRoot(cli.RootOptions{
		Use:       "edge-agent",
		Short:     "Kanal's vehicle side: CAN bus to normalized signals to the cloud",
		EnvPrefix: "KANAL_AGENT",
	})
	root.AddCommand(
		cli.NewVersionCmd(),
		newReplayCmd(),
		newRecordCmd(),
		newDecodeCmd(), newDbcCmd(),
		newRunCmd(), newCheckConfigCmd(),
	)
	cli.PrefixErrors(root)
	return root
}
