package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/kanal-dev/kanal/internal/cli"
	"github.com/kanal-dev/kanal/sim/fleet"
)

func newCompareCmd() *cobra.Command {
	var (
		truthFile string
		tolerance time.Duration
	)
	cmd := &cobra.Command{
		Use:   "compare --truth truth.json ALERTS...",
		Short: "Compare the alerts a system raised with the truth of a run",
		Long: `compare reads the alerts a system raised (the gateway's kanal.alert.v1
JSON, one object after the other as on kanal.alerts.> or the MQTT alert
topics, or the {"alerts": [...]} of GET /v1/alerts; - for standard input)
and matches every episode of the truth (written by write, run --truth or
truth --out) with one of the same kind, cell and lamp whose start is
within --tolerance. It prints what matched, what is missing, what the
truth does not have, and what the truth clears and the system did not,
and exits 1 unless everything agrees.`,
		Example: `  fleet run --broker mqtt://127.0.0.1:1883 --truth truth.json ... &
  nats sub --raw 'kanal.alerts.>' > alerts.jsonl   # or the gateway's alert stream
  fleet compare --truth truth.json alerts.jsonl`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) == 0 {
				return cli.Usagef("give the files of alerts (- for standard input)")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if truthFile == "" {
				return cli.Usagef("--truth is required")
			}
			tr, err := fleet.ReadTruth(truthFile)
			if err != nil {
				return err
			}
			var seen []fleet.Seen
			for _, a := range args {
				var r io.Reader = cmd.InOrStdin()
				if a != "-" {
					f, err := os.Open(a)
					if err != nil {
						return err
					}
					defer f.Close()
					r = f
				}
				s, err := fleet.ReadSeen(r)
				if err != nil {
					return fmt.Errorf("%s: %w", a, err)
				}
				seen = append(seen, s...)
			}
			c, err := tr.Compare(seen, tolerance)
			if err != nil {
				return err
			}
			if err := c.WriteText(cmd.OutOrStdout()); err != nil {
				return err
			}
			if !c.OK() {
				return &cli.ExitError{Code: 1, Err: errors.New("the alerts differ from the truth")}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&truthFile, "truth", "", "the run's truth (JSON)")
	cmd.Flags().DurationVar(&tolerance, "tolerance", 2*time.Second, "how far an episode's start may be from the truth's")
	return cmd
}
