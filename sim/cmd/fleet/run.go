package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/kanal-dev/kanal/internal/cli"
	"github.com/kanal-dev/kanal/sim/fleet"
	"github.com/kanal-dev/kanal/sim/runner"
	"github.com/kanal-dev/kanal/uplink/spool"
)

type runFlags struct {
	broker        string
	mapping       string
	dir           string
	keep          bool
	speed         float64
	credentials   string
	gatewayCreds  string
	fsync         string
	drainTimeout  time.Duration
	truthOut      string
	progressEvery time.Duration
	agentLogs     bool
	slack         time.Duration
	reloadWait    time.Duration
	saveCreds     string
}

func newRunCmd() *cobra.Command {
	var (
		fl fleetFlags
		rl ruleFlags
		rf runFlags
	)
	cmd := &cobra.Command{
		Use:   "run --broker URL",
		Short: "Run an edge agent per vehicle in this process against a gateway",
		Long: `run starts one edge agent per vehicle in this process, each with its own
spool under --dir and its own MQTT v5 connection to the gateway (client id
and login: the vehicle id), fed live with its vehicle's frames. The frames'
timestamps follow the simulated clock, which starts now (or at --start)
and runs --speed times as fast as real time (0: as fast as the agents take
them); the agents sample and batch by those timestamps. The gateway's
rules judge reports by their age, so alerts follow the truth at --speed 1;
faster runs are for load.

Logins: --credentials FILE lists NAME:PASSWORD (or NAME PASSWORD) lines;
--gateway-credentials FILE creates each vehicle's user in the gateway's
credentials file itself (as ingest-gateway credentials add does, replacing
an old one), which the gateway reloads by itself; that takes about 20 ms a
vehicle, more as the file grows, so for thousands create them once with
--save-credentials and use --credentials afterwards. Without either the
agents connect without a login.

Progress goes to standard error: a bar on a terminal, a log line every
--progress-every otherwise. When the run ends (or on Ctrl-C, when every
agent puts its open batch in its spool) the truth is printed: the alerts
the frames sent should raise.`,
		Example: `  ingest-gateway credentials add ... # or let the simulator do it:
  fleet run --broker mqtt://127.0.0.1:1883 --gateway-credentials /var/lib/kanal/credentials.yaml --vehicles 40 --duration 5m
  fleet run --broker mqtt://127.0.0.1:1883 --vehicles 2000 --duration 2m --speed 0 --fog-banks 0`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runRun(cmd, fl, rl, rf)
		},
	}
	f := cmd.Flags()
	f.StringVar(&rf.broker, "broker", "mqtt://127.0.0.1:1883", "the gateway's MQTT URL (mqtt:// or mqtts://)")
	f.StringVar(&rf.mapping, "mapping", defaultMapping, "the demo vehicle's mapping file")
	f.StringVar(&rf.dir, "dir", "", "directory for the vehicles' spools and password files (default: a temporary one, removed at the end)")
	f.BoolVar(&rf.keep, "keep", false, "keep the temporary directory")
	f.Float64Var(&rf.speed, "speed", 1, "simulated seconds per real second; 0: as fast as the agents take frames")
	f.StringVar(&rf.credentials, "credentials", "", "file of NAME:PASSWORD lines, one per vehicle")
	f.StringVar(&rf.gatewayCreds, "gateway-credentials", "", "the gateway's credentials file: create each vehicle's user in it")
	f.StringVar(&rf.saveCreds, "save-credentials", "", "with --gateway-credentials: also write the new NAME:PASSWORD list here (0600), for later runs with --credentials")
	f.DurationVar(&rf.reloadWait, "reload-wait", 2*time.Second, "with --gateway-credentials: how long to give the gateway to reload the file before the agents log in")
	f.StringVar(&rf.fsync, "fsync", string(spool.FsyncNone), "the agents' spool fsync policy: batch, interval or none")
	f.DurationVar(&rf.drainTimeout, "drain-timeout", runner.DefaultDrainTimeout, "how long after the last frame to wait for every batch's PUBACK")
	f.StringVar(&rf.truthOut, "truth", "", "also write the truth as JSON to this file")
	f.DurationVar(&rf.progressEvery, "progress-every", 10*time.Second, "interval of the progress log lines when standard error is not a terminal")
	f.BoolVar(&rf.agentLogs, "agent-logs", false, "log everything the agents log, not only their warnings")
	f.DurationVar(&rf.slack, "slack", fleet.DefaultSlack, "how late a frame may be released so that one wake-up releases several (its timestamp stays exact)")
	fl.add(f, "simulated time of the first frame, RFC 3339 (default: now)")
	rl.add(f)
	return cmd
}

func runRun(cmd *cobra.Command, fl fleetFlags, rl ruleFlags, rf runFlags) error {
	if rf.credentials != "" && rf.gatewayCreds != "" {
		return cli.Usagef("--credentials and --gateway-credentials: give one")
	}
	if rf.speed < 0 {
		return cli.Usagef("--speed %v: want 0 (as fast as possible) or more", rf.speed)
	}
	f, err := fl.newFleet(time.Now().UTC().Truncate(time.Millisecond))
	if err != nil {
		return err
	}
	opts := runner.Options{Fleet: f, Broker: rf.broker, Mapping: rf.mapping, Speed: &rf.speed,
		Spool: spool.Options{Fsync: spool.FsyncPolicy(rf.fsync)}, DrainTimeout: rf.drainTimeout,
		Rules: rl.rules(), Logger: slog.Default(), Slack: rf.slack}
	if rf.agentLogs {
		opts.AgentLogger = slog.Default()
	}
	switch {
	case rf.credentials != "":
		if opts.Password, err = fromFile(rf.credentials); err != nil {
			return err
		}
	case rf.gatewayCreds != "":
		if opts.Password, err = createUsers(cmd.Context(), f, rf.gatewayCreds, rf.reloadWait, rf.saveCreds); err != nil {
			return err
		}
	}
	opts.Dir = rf.dir
	if opts.Dir == "" {
		if opts.Dir, err = os.MkdirTemp("", "kanal-fleet-"); err != nil {
			return err
		}
		if !rf.keep {
			defer os.RemoveAll(opts.Dir)
		} else {
			defer fmt.Fprintf(cmd.ErrOrStderr(), "spools kept in %s\n", opts.Dir)
		}
	}
	bar := newProgress(cmd.ErrOrStderr(), rf.progressEvery)
	opts.Progress, opts.ProgressEvery = bar.report, bar.every
	res, runErr := runner.Run(cmd.Context(), opts)
	bar.finish()
	if res == nil {
		return runErr
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "%d vehicles sent %d frames in %v: %d batches, %d not acknowledged\n",
		len(res.Vehicles), res.Frames, res.Wall.Round(time.Millisecond), res.Batches, res.Unacked)
	if rf.truthOut != "" {
		if err := res.Truth.WriteFile(rf.truthOut); err != nil {
			return errors.Join(runErr, err)
		}
	}
	if err := res.Truth.WriteText(cmd.OutOrStdout()); err != nil {
		return errors.Join(runErr, err)
	}
	return runErr
}

// isTerminal reports whether w is a terminal, without a module for it: a
// character device is one.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
