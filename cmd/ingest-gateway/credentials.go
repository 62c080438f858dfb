package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/kanal-dev/kanal/cloud/auth"
	"github.com/kanal-dev/kanal/internal/cli"
)

// newCredentialsCmd is `ingest-gateway credentials add|list|remove`: the
// users of the gateway's credentials file (cloud/auth). The command names,
// flags and the password alone on add's last line are a contract: scripts
// that provision vehicles read it with `tail -n1`.
func newCredentialsCmd() *cobra.Command {
	var file string
	cmd := &cobra.Command{
		Use:   "credentials",
		Short: "Add, list and remove the users of a credentials file",
		Long: `The credentials file (YAML, --credentials of run) holds the users of the
gateway: vehicles (the name is the vehicle id, and the MQTT client id),
traffic services and operators, each with the bcrypt hash of a password the
gateway made. A running gateway picks changes up by itself (and on SIGHUP)
and disconnects users who were removed or given a new password.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.PersistentFlags().StringVar(&file, "file", "", "the credentials file (required)")
	needFile := func() error {
		if file == "" {
			return cli.Usagef("--file is required")
		}
		return nil
	}
	cmd.AddCommand(newCredentialsAddCmd(&file, needFile), newCredentialsListCmd(&file, needFile), newCredentialsRemoveCmd(&file, needFile))
	return cmd
}

// oneName is the Args of add and remove: a usage error, exit 2, otherwise.
func oneName(_ *cobra.Command, args []string) error {
	if len(args) != 1 {
		return cli.Usagef("want one user name, got %d arguments", len(args))
	}
	return nil
}

func newCredentialsAddCmd(file *string, needFile func() error) *cobra.Command {
	var role string
	var replace bool
	cmd := &cobra.Command{
		Use:   "add NAME --file FILE [--role vehicle|traffic|operator] [--replace]",
		Short: "Add a user with a new random password, printed once",
		Long: `Add makes a random password (144 bits) for a new user, stores only its
bcrypt hash in the file (created, mode 0600, when missing; written
atomically) and prints the password once, alone on the last line of
standard output. A vehicle's NAME is its vehicle id: its agent logs in with
it as user name and client id. --replace gives an existing user a new
password (and role); without it an existing name is refused.`,
		Example: `  ingest-gateway credentials add WVW-000001 --file /etc/kanal/credentials.yaml | tail -n1 > vehicle.pw
  ingest-gateway credentials add city-traffic --role traffic --file /etc/kanal/credentials.yaml
  ingest-gateway credentials add ops --role operator --replace --file /etc/kanal/credentials.yaml`,
		Args: oneName,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := needFile(); err != nil {
				return err
			}
			r, err := auth.ParseRole(role)
			if err != nil {
				return cli.Usagef("--role: %v", err)
			}
			name := args[0]
			existed := false
			if s, err := auth.Load(*file); err == nil {
				_, existed = s.Lookup(name)
			} else if !errors.Is(err, fs.ErrNotExist) {
				if _, statErr := os.Stat(*file); statErr == nil {
					return err // a file with mistakes: say so before anything
				}
			}
			pw, err := auth.AddUser(*file, name, r, auth.AddOptions{Replace: replace})
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if existed {
				fmt.Fprintf(out, "%s %s: new password in %s (the old one no longer works)\n", r, name, *file)
			} else {
				fmt.Fprintf(out, "%s %s: added to %s\n", r, name, *file)
			}
			fmt.Fprintln(out, "password (shown once; only its bcrypt hash is stored):")
			_, err = fmt.Fprintln(out, pw)
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&role, "role", string(auth.RoleVehicle), "vehicle, traffic or operator")
	f.BoolVar(&replace, "replace", false, "give an existing user a new password")
	return cmd
}

func newCredentialsListCmd(file *string, needFile func() error) *cobra.Command {
	return &cobra.Command{
		Use:   "list --file FILE",
		Short: "List the users and their roles (never their hashes)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := needFile(); err != nil {
				return err
			}
			s, err := auth.Load(*file)
			if err != nil {
				return err
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "NAME\tROLE")
			for _, u := range s.Users() {
				fmt.Fprintf(w, "%s\t%s\n", u.Name, u.Role)
			}
			return w.Flush()
		},
	}
}

func newCredentialsRemoveCmd(file *string, needFile func() error) *cobra.Command {
	return &cobra.Command{
		Use:   "remove NAME --file FILE",
		Short: "Remove a user: a running gateway disconnects it",
		Args:  oneName,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := needFile(); err != nil {
				return err
			}
			if err := auth.RemoveUser(*file, args[0]); err != nil {
				return err
			}
			_, err := fmt.Fprintf(cmd.OutOrStdout(), "%s: removed from %s\n", args[0], *file)
			return err
		},
	}
}
