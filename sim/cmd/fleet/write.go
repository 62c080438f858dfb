package main

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/kanal-dev/kanal/sim/fleet"
)

func newWriteCmd() *cobra.Command {
	var (
		fl  fleetFlags
		rl  ruleFlags
		dir string
	)
	cmd := &cobra.Command{
		Use:   "write --dir DIR",
		Short: "Write one candump log per vehicle, and the truth",
		Long: `write generates every vehicle's frames as fast as the machine can and
writes them to DIR/<vehicle>.log, in the candump -l format that
edge-agent replay plays onto a vcan interface (bus can0), and the truth
(the alerts the logs should raise) to DIR/truth.json; the truth is also
printed. Without --start the logs start at ` + fleet.DefaultStart.Format("2006-01-02 15:04:05Z") + `,
so that a seed always writes the same bytes.`,
		Example: `  fleet write --dir /tmp/fleet --vehicles 40 --duration 10m
  edge-agent replay /tmp/fleet/sim-0001.log --to vcan0`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if dir == "" {
				return fmt.Errorf("--dir is required")
			}
			f, err := fl.newFleet(fleet.DefaultStart)
			if err != nil {
				return err
			}
			tr, err := f.WriteLogs(cmd.Context(), dir, rl.rules())
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "wrote %d logs and %s to %s\n", f.Len(), fleet.TruthFile, dir)
			return tr.WriteText(cmd.OutOrStdout())
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "directory for the logs and truth.json (created)")
	fl.add(cmd.Flags(), "time of the first frame, RFC 3339 (default "+fleet.DefaultStart.Format("2006-01-02T15:04:05Z")+")")
	rl.add(cmd.Flags())
	return cmd
}

func newTruthCmd() *cobra.Command {
	var (
		fl     fleetFlags
		rl     ruleFlags
		asJSON bool
		out    string
	)
	cmd := &cobra.Command{
		Use:   "truth",
		Short: "Print the alerts a fleet's run should raise, without running it",
		Long: `truth generates the fleet's frames without keeping them and prints the
alerts they should make the gateway's rules raise. Give the same flags as
to write or run (a run at --start, with the seed and the fleet flags) to
know in advance what a run will show.`,
		Example: `  fleet truth --vehicles 40 --duration 5m --fog-banks 2
  fleet truth --json --start 2025-11-12T06:45:00Z > truth.json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f, err := fl.newFleet(fleet.DefaultStart)
			if err != nil {
				return err
			}
			tr, err := f.Truth(cmd.Context(), rl.rules())
			if err != nil {
				return err
			}
			if out != "" {
				if err := tr.WriteFile(out); err != nil {
					return err
				}
			}
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(tr)
			}
			return tr.WriteText(cmd.OutOrStdout())
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the truth as JSON (as truth.json) instead of text")
	cmd.Flags().StringVar(&out, "out", "", "also write the truth as JSON to this file")
	fl.add(cmd.Flags(), "time of the first frame, RFC 3339 (default "+fleet.DefaultStart.Format("2006-01-02T15:04:05Z")+")")
	rl.add(cmd.Flags())
	return cmd
}
