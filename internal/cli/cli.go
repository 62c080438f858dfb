// Package cli holds what both Kanal commands share: the root command with its
// logging flags, the config file and environment layering, and version.
//
// Every setting is a flag. A flag not given on the command line takes its
// value from the environment (PREFIX_FLAG_NAME, e.g. KANAL_AGENT_LOG_LEVEL),
// else from the config file, else its default. The config file is YAML whose
// keys are flag names; a key naming a subcommand holds that subcommand's
// flags and wins over the top level:
//
//	log-level: debug
//	replay:
//	  speed: 2
//	  map: [vcan0=can0, vcan1=can1]
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// RootOptions configures NewRoot.
type RootOptions struct {
	Use       string
	Short     string
	EnvPrefix string // e.g. "KANAL_AGENT"
}

// NewRoot returns a root command with --config, --log-level and --log-format,
// which loads the config file and environment into every subcommand's unset
// flags and installs the slog default logger before the subcommand runs.
func NewRoot(opts RootOptions) *cobra.Command {
	var (
		configPath string
		logLevel   string
		logFormat  string
	)
	root := &cobra.Command{
		Use:           opts.Use,
		Short:         opts.Short,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			if configPath == "" && opts.EnvPrefix != "" {
				configPath = os.Getenv(envName(opts.EnvPrefix, "config"))
			}
			flagConfig := configPath
			if cmd.Annotations[StructuredConfig] != "" {
				flagConfig = "" // the command reads the file itself
			}
			if err := applyLayers(cmd, opts.EnvPrefix, flagConfig); err != nil {
				return err
			}
			logger, err := NewLogger(cmd.ErrOrStderr(), logLevel, logFormat)
			if err != nil {
				return err
			}
			slog.SetDefault(logger)
			return nil
		},
	}
	pf := root.PersistentFlags()
	pf.StringVar(&configPath, "config", "", "config file (YAML; keys are flag names, sections are subcommands)")
	pf.StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn, error")
	pf.StringVar(&logFormat, "log-format", "text", "log format: text or json")
	root.CompletionOptions.HiddenDefaultCmd = true
	return root
}

// StructuredConfig is the annotation of a command whose --config file is a
// structured config of its own (edge-agent run, ingest-gateway run), which
// the command reads; the flag layering then applies only the environment
// (KANAL_AGENT_*), and the command lets the flags that were set, on the
// command line or by the environment (Flag.Changed), override single keys
// of its file.
const StructuredConfig = "kanal/structured-config"

// ConfigPath returns the config file named by --config or the PREFIX_CONFIG
// variable, "" when neither is set.
func ConfigPath(cmd *cobra.Command) string {
	if f := cmd.Flags().Lookup("config"); f != nil {
		return f.Value.String()
	}
	return ""
}

// NewLogger returns a slog logger writing to w at the named level and format.
func NewLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	ho := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, ho)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, ho)), nil
	}
	return nil, fmt.Errorf("--log-format %q: want text or json", format)
}

// ExitError ends the command with Code, printing Err unless it is nil:
// `dbc lint` exits 1 after printing its findings itself.
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("exit status %d", e.Code)
	}
	return e.Err.Error()
}

func (e *ExitError) Unwrap() error { return e.Err }

// Execute runs root with ctx and returns the process exit code: 0, the code
// of an ExitError, 2 for usage errors and 1 for any other error.
func Execute(ctx context.Context, root *cobra.Command) int {
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &usageError{err} })
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	var exit *ExitError
	if errors.As(err, &exit) {
		if exit.Err != nil {
			fmt.Fprintf(root.ErrOrStderr(), "%s: %v\n", root.Name(), exit.Err)
		}
		return exit.Code
	}
	fmt.Fprintf(root.ErrOrStderr(), "%s: %v\n", root.Name(), err)
	var usage *usageError
	if errors.As(err, &usage) || strings.HasPrefix(err.Error(), "unknown command") {
		fmt.Fprintf(root.ErrOrStderr(), "Run '%s --help' for usage.\n", root.Name())
		return 2
	}
	return 1
}

type usageError struct{ error }

// PrefixErrors makes every error of cmd's RunE, and of its subcommands',
// start with the command's name ("decode: open ..."), so the commands need
// not repeat it; usage errors and ExitErrors pass unchanged, and so does an
// error that already names the command.
func PrefixErrors(cmd *cobra.Command) {
	for _, sub := range cmd.Commands() {
		PrefixErrors(sub)
	}
	run := cmd.RunE
	if run == nil {
		return
	}
	name := cmd.Name()
	cmd.RunE = func(c *cobra.Command, args []string) error {
		err := run(c, args)
		var exit *ExitError
		if err == nil || errors.As(err, &exit) || strings.HasPrefix(err.Error(), name+": ") {
			return err
		}
		var usage *usageError
		if errors.As(err, &usage) {
			return &usageError{fmt.Errorf("%s: %w", name, err)}
		}
		return fmt.Errorf("%s: %w", name, err)
	}
}

// Usagef returns a usage error: Execute prints it with a hint to --help and
// exits 2, as for a bad flag.
func Usagef(format string, args ...any) error {
	return &usageError{fmt.Errorf(format, args...)}
}

func (e *usageError) Unwrap() error { return e.error }

// setFlag sets a flag from a config or environment value. List flags take
// a YAML list or, from the environment, a comma-separated string.
func setFlag(f *pflag.Flag, values []string) error {
	if sv, ok := f.Value.(pflag.SliceValue); ok {
		return sv.Replace(values)
	}
	if len(values) != 1 {
		return fmt.Errorf("takes one value, not a list")
	}
	return f.Value.Set(values[0])
}

// envName returns the environment variable for a flag: KANAL_AGENT_LOG_LEVEL.
func envName(prefix, flag string) string {
	return prefix + "_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// applyLayers fills the unset flags of cmd from the environment, then the
// config file. Flags given on the command line are never touched. A flag
// set from the environment counts as Changed, as one from the command line
// does: both override a structured config file.
func applyLayers(cmd *cobra.Command, prefix, configPath string) error {
	var cfg *config
	if configPath != "" {
		var err error
		if cfg, err = loadConfig(configPath); err != nil {
			return err
		}
		if err := cfg.check(cmd); err != nil {
			return err
		}
	}
	var errs []error
	apply := func(f *pflag.Flag) {
		if f.Changed || f.Name == "config" {
			return
		}
		if prefix != "" {
			if v, ok := os.LookupEnv(envName(prefix, f.Name)); ok {
				vals := []string{v}
				if _, isList := f.Value.(pflag.SliceValue); isList {
					vals = strings.Split(v, ",")
				}
				if err := setFlag(f, vals); err != nil {
					errs = append(errs, fmt.Errorf("%s: %w", envName(prefix, f.Name), err))
				}
				f.Changed = true
				return
			}
		}
		if cfg == nil {
			return
		}
		if vals, pos, ok := cfg.lookup(cmd, f.Name); ok {
			if err := setFlag(f, vals); err != nil {
				errs = append(errs, fmt.Errorf("%s:%d: %s: %w", configPath, pos, f.Name, err))
			}
		}
	}
	cmd.Flags().VisitAll(apply)
	cmd.InheritedFlags().VisitAll(apply)
	return errors.Join(errs...)
}
