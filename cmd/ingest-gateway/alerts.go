package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/kanal-dev/kanal/cloud/alert"
	"github.com/kanal-dev/kanal/cloud/api"
	"github.com/kanal-dev/kanal/internal/cli"
)

// apiFlags are how the client commands reach a running gateway's HTTP API.
type apiFlags struct {
	url, user, passwordFile string
}

func (a *apiFlags) register(cmd *cobra.Command, role string) {
	f := cmd.Flags()
	f.StringVar(&a.url, "url", "http://127.0.0.1:8080", "the gateway's HTTP address (its --http-listen)")
	f.StringVar(&a.user, "user", "", "a "+role+" user of the gateway's credentials file (required)")
	f.StringVar(&a.passwordFile, "password-file", "", "file whose first line is the user's password (required)")
}

func (a *apiFlags) client() (*api.Client, error) {
	if a.user == "" || a.passwordFile == "" {
		return nil, cli.Usagef("--user and --password-file are required")
	}
	pw, err := readSecret(a.passwordFile)
	if err != nil {
		return nil, fmt.Errorf("--password-file: %w", err)
	}
	if !strings.HasPrefix(a.url, "http://") && !strings.HasPrefix(a.url, "https://") {
		return nil, cli.Usagef("--url %q: want http://HOST:PORT or https://HOST:PORT", a.url)
	}
	return &api.Client{URL: a.url, User: a.user, Password: pw}, nil
}

func newAlertsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "alerts",
		Short: "Follow the alerts of a running gateway",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(newAlertsWatchCmd())
	return cmd
}

type watchFlags struct {
	apiFlags
	kind, cell, bbox string
}

func newAlertsWatchCmd() *cobra.Command {
	var fl watchFlags
	cmd := &cobra.Command{
		Use:   "watch [--bbox minLon,minLat,maxLon,maxLat] [--kind fog|warning|breakdown] [--cell TOKEN]",
		Short: "Show alert changes live, as a traffic service sees them",
		Long: `Watch prints the active alerts of a running gateway and then every
change, one line each: the time it was published (UTC), kind, state,
cell, the cell's centre (latitude,longitude to 3 decimals), how many
vehicles it rests on, and what else is known (the lamp of a warning, for fog
the share of those vehicles with wipers on and below 50 km/h).

It reads the gateway's /v1/alerts/stream with a traffic or operator user,
and when the connection drops it reconnects and resumes after the last
change it printed, so none is lost or shown twice. It shows what a traffic
service sees: no vehicle identity. Stop it with Ctrl-C.`,
		Example: `  ingest-gateway alerts watch --user tms --password-file tms.pw
  ingest-gateway alerts watch --url http://gw:8080 --user tms --password-file tms.pw --bbox 11.4,48.0,11.8,48.3 --kind fog`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := fl.client()
			if err != nil {
				return err
			}
			return watchAlerts(cmd.Context(), c, api.Filter{Kind: fl.kind, Cell: fl.cell, BBox: fl.bbox},
				cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	fl.register(cmd, "traffic or operator")
	f := cmd.Flags()
	f.StringVar(&fl.kind, "kind", "", "only alerts of this kind: fog, warning or breakdown")
	f.StringVar(&fl.cell, "cell", "", "only alerts of this cell (its token)")
	f.StringVar(&fl.bbox, "bbox", "", "only alerts of cells in this area: minLon,minLat,maxLon,maxLat")
	return cmd
}

// watchFormat is one line of the watch view.
const watchFormat = "%-19s  %-9s  %-7s  %-16s  %-15s  %5s  %s\n"

// watchAlerts prints the header, then a line per alert change until ctx
// ends; connection changes go to notes.
func watchAlerts(ctx context.Context, c *api.Client, f api.Filter, out, notes io.Writer) error {
	var scope []string
	for _, kv := range [][2]string{{"kind", f.Kind}, {"cell", f.Cell}, {"bbox", f.BBox}} {
		if kv[1] != "" {
			scope = append(scope, kv[0]+" "+kv[1])
		}
	}
	if len(scope) == 0 {
		scope = []string{"all alerts"}
	}
	fmt.Fprintf(out, "Kanal alerts from %s (%s); times UTC\n", c.URL, strings.Join(scope, ", "))
	fmt.Fprintf(out, watchFormat, "TIME", "KIND", "STATE", "CELL", "PLACE", "COUNT", "DETAIL")
	connected := false
	err := c.Watch(ctx, f, func(e api.Event) {
		fmt.Fprint(out, watchLine(&e.Alert))
	}, func(up bool, err error) {
		switch {
		case up && !connected:
			fmt.Fprintf(notes, "-- %s  connected\n", time.Now().UTC().Format(time.DateTime))
		case !up && connected:
			fmt.Fprintf(notes, "-- %s  connection lost (%v); reconnecting\n", time.Now().UTC().Format(time.DateTime), err)
		case !up:
			fmt.Fprintf(notes, "-- %s  cannot connect (%v); retrying\n", time.Now().UTC().Format(time.DateTime), err)
		}
		connected = up
	})
	if err != nil {
		return fmt.Errorf("alerts watch %s: %w", c.URL, err)
	}
	return nil
}

// watchLine formats one alert change for a person.
func watchLine(a *alert.Alert) string {
	place := "-"
	if a.Cell != "" {
		place = fmt.Sprintf("%.3f,%.3f", a.Centre.Lat, a.Centre.Lng)
	}
	var detail []string
	if a.Lamp != "" {
		detail = append(detail, "lamp "+a.Lamp)
	}
	if c := a.Corroboration; c != nil {
		detail = append(detail, fmt.Sprintf("wipers on %.0f%%, below 50 km/h %.0f%%", 100*c.Wipers, 100*c.LowSpeed))
	}
	if a.Kind == alert.KindBreakdown && a.State == alert.StateRaised {
		detail = append(detail, "stopped since "+a.First.UTC().Format(time.TimeOnly))
	}
	return fmt.Sprintf(watchFormat, a.Published.UTC().Format(time.DateTime), a.Kind, a.State, a.Cell, place,
		fmt.Sprint(a.Count), strings.Join(detail, "; "))
}
