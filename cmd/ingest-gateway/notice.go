package main

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/kanal-dev/kanal/cloud/api"
	"github.com/kanal-dev/kanal/internal/cli"
)

func newNoticeCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "notice",
		Short: "Send notices to the vehicles in an area",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(newNoticeSendCmd())
	return cmd
}

type noticeFlags struct {
	apiFlags
	bbox, text string
	expires    time.Duration
}

func newNoticeSendCmd() *cobra.Command {
	var fl noticeFlags
	cmd := &cobra.Command{
		Use:   "send --bbox minLon,minLat,maxLon,maxLat --text TEXT",
		Short: "Send a notice to every vehicle in an area",
		Long: `Send asks a running gateway (POST /v1/notices, with an operator user)
to send a notice to every vehicle in the cells of an area: the gateways
publish it on kanal/v1/cells/{cell}/notice, which agents in those cells (and
the cells around them) subscribe to. It prints the notice's id and how many
cells it went to once JetStream has stored it.`,
		Example: `  ingest-gateway notice send --user ops --password-file ops.pw --bbox 11.55,48.12,11.60,48.15 --text "A9 closed at Garching"
  ingest-gateway notice send --url http://gw:8080 --user ops --password-file ops.pw --bbox 11.5,48.1,11.6,48.2 --text "Ice" --expires 3h`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if fl.bbox == "" || fl.text == "" {
				return cli.Usagef("--bbox and --text are required")
			}
			c, err := fl.client()
			if err != nil {
				return err
			}
			req := api.NoticeRequest{BBox: fl.bbox, Text: fl.text}
			if fl.expires > 0 {
				req.ExpiresIn = fl.expires.String()
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), 30*time.Second)
			defer cancel()
			resp, err := c.SendNotice(ctx, req)
			if err != nil {
				return fmt.Errorf("notice send %s: %w", c.URL, err)
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "notice %s sent to %d cells, expires %s\n", resp.ID, resp.Cells,
				resp.Expires.UTC().Format(time.DateTime+" UTC"))
			return err
		},
	}
	fl.register(cmd, "operator")
	f := cmd.Flags()
	f.StringVar(&fl.bbox, "bbox", "", "the area: minLon,minLat,maxLon,maxLat (required)")
	f.StringVar(&fl.text, "text", "", "what the vehicles show, at most 500 characters (required)")
	f.DurationVar(&fl.expires, "expires", 0, "how long the notice lasts; 0: the gateway's default (1h)")
	return cmd
}
