package main

import (
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/kanal-dev/kanal/can/socketcan"
	"github.com/kanal-dev/kanal/internal/cli"
	"github.com/kanal-dev/kanal/sim/fleet"
)

func newVcanCmd() *cobra.Command {
	var (
		fl      fleetFlags
		rl      ruleFlags
		iface   string
		vehicle string
		speed   float64
	)
	cmd := &cobra.Command{
		Use:   "vcan --iface vcan0 --vehicle N",
		Short: "Send one vehicle's frames live onto a SocketCAN interface",
		Long: `vcan sends the frames of one vehicle of the fleet onto a SocketCAN
interface as they come due on the simulated clock, for an edge agent
reading the bus (edge-agent run --from vcan0) or any can-utils tool. The
vehicle is the same as in write and run with the same fleet flags: a
number from 1 (--vehicle 3 is sim-0003) or its id. The interface needs an
MTU of 72 (CAN FD): the demo vehicle has an FD message.

At the end the warning lamps and breakdowns of this vehicle are printed
(fog alerts need several vehicles in a cell).`,
		Example: `  sudo ip link add dev vcan0 type vcan && sudo ip link set vcan0 mtu 72 up
  fleet vcan --iface vcan0 --vehicle 3 --duration 5m &
  edge-agent run --from vcan0 --vehicle sim-0003 --broker mqtt://127.0.0.1:1883 --spool-dir /tmp/spool ...`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if speed <= 0 {
				return cli.Usagef("--speed %v: want more than 0 (a bus has real time)", speed)
			}
			f, err := fl.newFleet(time.Now().UTC().Truncate(time.Millisecond))
			if err != nil {
				return err
			}
			i, err := vehicleIndex(f, vehicle)
			if err != nil {
				return cli.Usagef("--vehicle: %v", err)
			}
			v, err := f.Vehicle(i)
			if err != nil {
				return err
			}
			bus, err := socketcan.Open(cmd.Context(), socketcan.Options{Interface: iface, Logger: slog.Default()})
			if err != nil {
				return err
			}
			defer bus.Close()
			slog.Info("sending", "vehicle", v.ID, "interface", iface, "speed", speed, "duration", f.Options().Duration)
			n, err := fleet.Play(cmd.Context(), v.Source(fleet.SourceOptions{Clock: fleet.NewClock(f.Options().Start, speed)}), bus)
			slog.Info("sent", "vehicle", v.ID, "frames", n)
			if err != nil && cmd.Context().Err() == nil {
				return err
			}
			tr, terr := f.TruthOf([]*fleet.Vehicle{v}, rl.rules())
			if terr != nil {
				return terr
			}
			tr.Fog = nil
			return tr.WriteText(cmd.OutOrStdout())
		},
	}
	cmd.Flags().StringVar(&iface, "iface", "vcan0", "SocketCAN interface to send on")
	cmd.Flags().StringVar(&vehicle, "vehicle", "1", "which vehicle: a number from 1, or its id (sim-0001)")
	cmd.Flags().Float64Var(&speed, "speed", 1, "simulated seconds per real second")
	fl.add(cmd.Flags(), "simulated time of the first frame, RFC 3339 (default: now)")
	rl.add(cmd.Flags())
	return cmd
}

// vehicleIndex resolves --vehicle: a number from 1, or an id.
func vehicleIndex(f *fleet.Fleet, s string) (int, error) {
	if n, err := strconv.Atoi(s); err == nil {
		if n < 1 || n > f.Len() {
			return 0, fmt.Errorf("%d: want 1 to %d", n, f.Len())
		}
		return n - 1, nil
	}
	for i := range f.Len() {
		if strings.EqualFold(f.ID(i), s) {
			return i, nil
		}
	}
	return 0, fmt.Errorf("%q: no such vehicle (%s to %s)", s, f.ID(0), f.ID(f.Len()-1))
}
