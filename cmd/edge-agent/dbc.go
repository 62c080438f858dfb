package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/kanal-dev/kanal/dbc"
	"github.com/kanal-dev/kanal/internal/cli"
)

// newDbcCmd groups the DBC file tools.
func newDbcCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "dbc",
		Short: "Check DBC files",
	}
	cmd.AddCommand(newDbcLintCmd())
	return cmd
}

func newDbcLintCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "lint FILE...",
		Short: "Report mistakes in DBC files, each as file:line: message",
		Long: `Lint parses each DBC file as decode does and reports, one per line as
file:line: message, what would make values wrong or missing: signals that
overlap within one multiplexer branch, signals outside their message,
duplicate message ids or names, duplicate signal names in a message, and
broken multiplexer trees (mN without M, a multiplexer that is not one,
cycles, SG_MUL_VAL_ lines naming unknown signals).

It exits 1 when any file has an error or does not parse; warnings alone
exit 0.`,
		Example: `  edge-agent dbc lint car.dbc body.dbc`,
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			out := cmd.OutOrStdout()
			failed := false
			for _, path := range args {
				db, err := dbc.Load(path)
				if err != nil {
					fmt.Fprintln(out, err)
					failed = true
					continue
				}
				ps := dbc.Lint(db)
				for _, p := range ps {
					fmt.Fprintln(out, p)
				}
				failed = failed || dbc.HasErrors(ps)
			}
			if failed {
				return &cli.ExitError{Code: 1}
			}
			return nil
		},
	}
}
