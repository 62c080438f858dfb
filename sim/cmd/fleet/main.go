// Command fleet is Kanal's fleet simulator: dozens to thousands of the demo
// vehicle driving a synthetic Munich, with fog banks, warning lamps and
// breakdowns, their CAN frames made through the demo vehicle's DBC.
//
//	fleet write --dir DIR            one candump log per vehicle, and truth.json
//	fleet run --broker URL ...       an edge agent per vehicle against a gateway
//	fleet vcan --iface vcan0 --vehicle N   one vehicle onto a SocketCAN bus
//	fleet truth                      the alerts a run should raise, without running it
//	fleet compare --truth FILE ALERTS   the alerts a system raised against the truth
//
// Run it from the repository's root (the defaults of --dbc and --mapping
// are the bundled demo vehicle's): `go run ./sim/cmd/fleet --help`.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/kanal-dev/kanal/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Execute(ctx, newRootCmd())
	stop()
	os.Exit(code)
}

func newRootCmd() *cobra.Command {
	root := cli.NewRoot(cli.RootOptions{Use: "fleet", Short: "Simulate a fleet of the demo vehicle: candump logs, live agents, vcan",
		EnvPrefix: "KANAL_SIM"})
	root.Long = `fleet simulates a fleet of Kanal's demo vehicle driving a synthetic city
around Munich's Marienplatz: a grid of residential streets, arterials and a
ring road, traffic lights, stop signs, trips from place to place, parking
with the ignition off. Fog banks drift across the map with the wind:
vehicles inside slow down, switch on low beam and wipers and, after a few
seconds, most drivers the front and rear fog lights. Warning lamps come on
and vehicles break down (stop with hazard lights on) at the rates given.
Every frame is encoded through the demo vehicle's DBC, so it runs through
the real decode path. The same seed gives the same frames.

The simulator knows what it did: every mode can print the truth, the
alerts the cloud's rules should raise (fog per grid cell, the moment the
3rd distinct vehicle with fog lights on is in it, and when it clears;
each warning lamp; each breakdown), with the episode ids the gateway
gives them, to compare with what the system raised.

Every flag can also come from KANAL_SIM_<FLAG> or a --config file.`
	root.AddCommand(newWriteCmd(), newRunCmd(), newVcanCmd(), newTruthCmd(), newCompareCmd(), cli.NewVersionCmd())
	cli.PrefixErrors(root)
	return root
}
