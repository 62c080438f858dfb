package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/kanal-dev/kanal/can"
	"github.com/kanal-dev/kanal/can/socketcan"
	"github.com/kanal-dev/kanal/dbc"
	"github.com/kanal-dev/kanal/internal/cli"
)

type decodeFlags struct {
	from       []string
	speed      float64
	count      int64
	duration   time.Duration
	dbcs       []string
	buses      []string
	mapping    string
	catalogs   []string
	normalized bool
	signals    string
	changes    bool
	output     string
	strict     bool
}

// newDecodeCmd builds `edge-agent decode`.
func newDecodeCmd() *cobra.Command {
	var fl decodeFlags
	cmd := &cobra.Command{
		Use:   "decode --dbc FILE [--bus BUS=FILE] [--mapping FILE [--normalized]] LOG... | --from IFACE",
		Short: "Decode candump logs through DBC files",
		Long: `Decode reads candump logs (- for standard input) and decodes every frame
with the DBC files of its bus: --bus can0=F gives bus can0 file F (repeat
it for several files on one bus), --dbc gives files for every other bus.
When two files define the same id, the one named last wins (as in cantools),
so a file of your own overrides a vendor's file named before it.

Values are cantools' values: raw × factor + offset, never clamped to the
DBC's range, value-table labels not substituted. Frames that do not decode
(unknown id, shorter than the message, a multiplexer value that selects
nothing, remote and error frames) are counted, not printed.

--output jsonl (the default) prints one JSON object per decoded frame:
  {"t":1732221946.679678,"bus":"can0","id":359,"msg":"Engine","signals":{"Speed":12.5}}
--output table prints the same for people, with units and labels;
--output count prints only the counts and the decode rate.

--mapping M loads a mapping file (DBC signal → catalog entry) and checks it
against the DBC files and the catalog (the embedded default, extended with
--catalog files); every mistake is reported with file and line. With
--normalized the output carries catalog values instead of DBC signals: the
transform of the mapping applied, keyed by catalog path, with the catalog
ids beside them, and only the signals the mapping names:
  {"t":1732221946.679678,"bus":"can0","id":359,"msg":"Engine","signals":{"Vehicle.Speed":12.5},"ids":{"Vehicle.Speed":1}}
Frames none of whose signals are mapped are counted, not printed.

--speed X paces the logs by their timestamps, X times real time, as replay
does: the decoder sees the drive as it happened.

--from IFACE decodes SocketCAN buses live instead of logs, until interrupted,
--count frames or --duration. Each bus gets kernel filters for the ids its
DBC files define (with --normalized, the ids the mapping uses), so frames
nobody decodes stay in the kernel and are not counted. Frames the kernel
drops because decode fell behind are reported when it ends.

--signals RE prints only the signals whose MESSAGE.SIGNAL (or catalog path
with --normalized) matches RE; --changes prints a signal only when its value
differs from the last one printed on that bus. Neither changes the counts.`,
		Example: `  edge-agent decode --dbc car.dbc drive.log
  edge-agent decode --bus can0=pt.dbc --bus can1=body.dbc --output count drive.log
  edge-agent replay drive.log --to - --fast | edge-agent decode --dbc car.dbc -
  edge-agent decode --dbc car.dbc --mapping car.mapping.yaml --normalized -o table drive.log
  edge-agent decode --dbc car.dbc --changes --signals 'Lights\.Fog' -o table drive.log
  edge-agent decode --bus can0=pt.dbc --from can0 --output table`,
		RunE: func(cmd *cobra.Command, args []string) error {
			switch {
			case len(args) == 0 && len(fl.from) == 0:
				return cli.Usagef("give LOG files (- for standard input) or --from IFACE")
			case len(args) > 0 && len(fl.from) > 0:
				return cli.Usagef("give LOG files or --from IFACE, not both")
			case len(fl.from) == 0 && (fl.count > 0 || fl.duration > 0):
				return cli.Usagef("--count and --duration are for --from")
			case len(fl.from) > 0 && fl.speed != 0:
				return cli.Usagef("--speed is for logs, not --from")
			case fl.speed < 0:
				return cli.Usagef("--speed %v: want 0 or more", fl.speed)
			}
			return runDecode(cmd.Context(), cmd, args, fl)
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&fl.from, "from", nil, "decode this SocketCAN interface live instead of logs (repeatable)")
	f.Float64Var(&fl.speed, "speed", 0, "pace the logs by their timestamps, this many times real time (as replay does); 0: as fast as possible")
	f.Int64Var(&fl.count, "count", 0, "with --from: stop after this many frames")
	f.DurationVar(&fl.duration, "duration", 0, "with --from: stop after this long")
	f.StringArrayVar(&fl.dbcs, "dbc", nil, "DBC file for buses --bus does not name (repeatable)")
	f.StringArrayVar(&fl.buses, "bus", nil, "DBC file of one bus, BUS=FILE (repeatable)")
	f.StringVar(&fl.mapping, "mapping", "", "mapping file from DBC signals to catalog entries (YAML)")
	f.StringArrayVar(&fl.catalogs, "catalog", nil, "catalog file extending the default catalog (repeatable)")
	f.BoolVar(&fl.normalized, "normalized", false, "print catalog paths, ids and values instead of DBC names (needs --mapping)")
	f.StringVar(&fl.signals, "signals", "", "print only signals matching this regular expression (MESSAGE.SIGNAL, or the catalog path with --normalized)")
	f.BoolVar(&fl.changes, "changes", false, "print a signal only when its value differs from the last one printed")
	f.StringVarP(&fl.output, "output", "o", "jsonl", "jsonl, table or count")
	f.BoolVar(&fl.strict, "strict", false, "stop at the first malformed log line instead of skipping it")
	return cmd
}

func runDecode(ctx context.Context, cmd *cobra.Command, logs []string, fl decodeFlags) error {
	if ctx == nil {
		ctx = context.Background()
	}
	if fl.normalized && fl.mapping == "" {
		return errors.New("--normalized needs --mapping")
	}
	if len(fl.catalogs) > 0 && fl.mapping == "" {
		return errors.New("--catalog needs --mapping")
	}
	var re *regexp.Regexp
	if fl.signals != "" {
		var err error
		if re, err = regexp.Compile(fl.signals); err != nil {
			return fmt.Errorf("--signals: %w", err)
		}
	}
	buses, err := parseBusFiles(fl.buses)
	if err != nil {
		return err
	}
	pipe, err := dbc.NewPipeline(dbc.PipelineOptions{DBC: fl.dbcs, Buses: buses, Mapping: fl.mapping,
		Catalogs: fl.catalogs, Logger: slog.Default()})
	if err != nil {
		return err
	}
	var emit emitter
	switch {
	case fl.output == "jsonl" && fl.normalized:
		emit = &normJSONEmitter{cat: pipe.Catalog(), keys: map[uint32][]byte{}}
	case fl.output == "jsonl":
		emit = &jsonEmitter{keys: map[*dbc.Plan][][]byte{}}
	case fl.output == "table" && fl.normalized:
		emit = &normTableEmitter{cat: pipe.Catalog()}
	case fl.output == "table":
		emit = &tableEmitter{}
	case fl.output == "count":
		emit = nil
	default:
		return fmt.Errorf("--output %q: want jsonl, table or count", fl.output)
	}
	d := &decodeRun{pipe: pipe, emit: emit, normalized: fl.normalized,
		filter: newValueFilter(re, fl.changes, pipe.Catalog()),
		w:      bufio.NewWriterSize(cmd.OutOrStdout(), 64<<10)}
	start := time.Now()
	if len(fl.from) > 0 {
		err = d.live(ctx, fl)
	} else {
		err = d.logs(ctx, logs, fl.strict, fl.speed)
	}
	if err != nil {
		d.w.Flush()
		return err
	}
	if emit == nil {
		writeCounts(d.w, pipe.Stats, d.malformed, time.Since(start))
		if pipe.Mapping() != nil {
			fmt.Fprintf(d.w, "normalized    %d (catalog values the mapping produced)\n", pipe.Stats.Normalized)
		}
		if len(fl.from) > 0 {
			fmt.Fprintf(d.w, "kernel drops  %d (frames the kernel dropped: decode fell behind the bus)\n", d.kernelDrops)
		} else {
			fmt.Fprintf(d.w, "recorder drops  %d (DROPCOUNT lines in the logs)\n", d.drops.frames)
		}
	}
	if err := d.w.Flush(); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	return nil
}

// parseBusFiles turns --bus BUS=FILE flags into the per-bus files of a
// pipeline, keeping the order of files within a bus.
func parseBusFiles(flags []string) (map[string][]string, error) {
	if len(flags) == 0 {
		return nil, nil
	}
	out := map[string][]string{}
	for _, b := range flags {
		bus, file, ok := strings.Cut(b, "=")
		if !ok || bus == "" || file == "" {
			return nil, cli.Usagef("--bus %q: want BUS=FILE", b)
		}
		out[bus] = append(out[bus], file)
	}
	return out, nil
}

// decodeRun is one decode command at work: the pipeline, what to print and
// the counts beyond the pipeline's own.
type decodeRun struct {
	pipe       *dbc.Pipeline
	normalized bool
	emit       emitter // nil for --output count
	filter     *valueFilter
	w          *bufio.Writer
	fv         dbc.FrameValues
	line       []byte

	malformed   int
	drops       dropWarnings // DROPCOUNT lines of the logs
	kernelDrops uint64       // frames the kernel dropped on --from buses
}

// logs decodes candump logs one after the other; with speed > 0 each is
// paced like replay paces it onto a bus, so the decoder sees the drive as
// it happened (replay straight into the decoder).
func (d *decodeRun) logs(ctx context.Context, paths []string, strict bool, speed float64) error {
	for _, path := range paths {
		lr, err := can.OpenLog(path, can.LogReaderOptions{Strict: strict, OnDrops: d.drops.report})
		if err != nil {
			return err
		}
		var src can.Source = lr
		if speed > 0 {
			if src, err = can.NewReplay(can.ReplayOptions{Open: func() (can.Source, error) { return lr, nil }, Speed: speed}); err != nil {
				lr.Close()
				return err
			}
		}
		// Standard input is a live or paced stream (replay --to -, a
		// candump pipe), and so is a paced log: show each frame when it
		// arrives.
		err = d.source(ctx, src, path == "-" || speed > 0)
		n, first := lr.Malformed()
		if n > 0 {
			slog.Warn("malformed log lines skipped", "file", path, "count", n, "first", first)
		}
		d.malformed += n
		lr.Close()
		if err != nil {
			return err
		}
	}
	d.drops.summary()
	return nil
}

// live decodes SocketCAN buses until ctx ends (SIGINT, SIGTERM, --duration)
// or --count frames were decoded. Each bus gets kernel filters for the ids
// its plan needs (with --normalized, the ids the mapping uses), so frames
// nobody decodes never leave the kernel.
func (d *decodeRun) live(ctx context.Context, fl decodeFlags) error {
	if fl.duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, fl.duration)
		defer cancel()
	}
	src, buses, err := openBuses(ctx, fl.from, func(o *socketcan.Options) {
		if ids := d.pipe.IDs(o.Interface, fl.normalized); ids != nil {
			o.Filters = socketcan.FiltersFor(ids)
		}
	})
	if err != nil {
		return err
	}
	defer src.Close()
	slog.Info("decoding", "from", fl.from)
	if fl.count > 0 {
		src = &limitSource{Source: src, left: fl.count}
	}
	err = d.source(ctx, src, true)
	d.kernelDrops = logBusStats(buses)
	return err
}

// limitSource ends a Source after a number of frames.
type limitSource struct {
	can.Source
	left int64
}

func (l *limitSource) Next(ctx context.Context) (can.Timed, error) {
	if l.left <= 0 {
		return can.Timed{}, io.EOF
	}
	l.left--
	return l.Source.Next(ctx)
}

// source decodes every frame of src until it ends or ctx does; live
// flushes the output after each printed frame.
func (d *decodeRun) source(ctx context.Context, src can.Source, live bool) error {
	return drain(ctx, src, func(t *can.Timed) error {
		d.pipe.Decode(t, &d.fv)
		if d.fv.Result.Status != dbc.Decoded || d.emit == nil {
			return nil
		}
		out := decoded{t: t, fv: &d.fv, vals: d.fv.Values}
		if d.normalized {
			out.vals, out.cvals = nil, d.fv.Catalog
			if len(out.cvals) == 0 {
				return nil // nothing of this frame is mapped
			}
		}
		if d.filter != nil {
			if out.vals, out.cvals = d.filter.apply(t.Bus, d.fv.Plan, out.vals, out.cvals); len(out.vals)+len(out.cvals) == 0 {
				return nil
			}
		}
		d.line = d.emit.frame(d.line[:0], &out)
		if _, err := d.w.Write(d.line); err != nil {
			return fmt.Errorf("write: %w", err)
		}
		if live && len(d.line) > 0 {
			if err := d.w.Flush(); err != nil {
				return fmt.Errorf("write: %w", err)
			}
		}
		return nil
	})
}
