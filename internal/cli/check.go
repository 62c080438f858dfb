package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
)

// CheckConfigArgs returns the config file a check-config command checks:
// its argument, else --config (or the PREFIX_CONFIG variable).
func CheckConfigArgs(cmd *cobra.Command, args []string) string {
	if len(args) == 1 {
		return args[0]
	}
	return ConfigPath(cmd)
}

// ReportCheck prints the verdict of a check-config command: "FILE: ok", or
// "FILE: not valid:" with every mistake of err on a line of its own, and
// then returns an ExitError of 1. Both binaries' check-config report alike.
func ReportCheck(cmd *cobra.Command, path string, err error) error {
	name := path
	if name == "" {
		name = "flags"
	}
	out := cmd.OutOrStdout()
	if err == nil {
		fmt.Fprintf(out, "%s: ok\n", name)
		return nil
	}
	fmt.Fprintf(out, "%s: not valid:\n", name)
	for _, line := range strings.Split(err.Error(), "\n") {
		fmt.Fprintf(out, "  %s\n", line)
	}
	return &ExitError{Code: 1}
}
