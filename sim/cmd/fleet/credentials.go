package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/kanal-dev/kanal/cloud/auth"
	"github.com/kanal-dev/kanal/sim/fleet"
)

// parseCredentials reads a credentials list: one vehicle a line, its name
// and password separated by a colon or white space (`sim-0001:s3cret` or
// `sim-0001 s3cret`); blank lines and lines starting with # are skipped.
// A mistake names the file and line, never the password.
func parseCredentials(name string, data []byte) (map[string]string, error) {
	out := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		user, pw, ok := strings.Cut(line, ":")
		if !ok {
			user, pw, ok = strings.Cut(line, " ")
			if !ok {
				user, pw, ok = strings.Cut(line, "\t")
			}
		}
		user, pw = strings.TrimSpace(user), strings.TrimSpace(pw)
		switch {
		case !ok || pw == "":
			return nil, fmt.Errorf("%s:%d: want NAME:PASSWORD or NAME PASSWORD", name, n)
		case auth.CheckName(user) != nil:
			return nil, fmt.Errorf("%s:%d: %v", name, n, auth.CheckName(user))
		case out[user] != "":
			return nil, fmt.Errorf("%s:%d: %s listed twice", name, n, user)
		}
		out[user] = pw
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return out, nil
}

// fromFile returns a Password func over a credentials list.
func fromFile(path string) (func(string) (string, error), error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--credentials: %w", err)
	}
	creds, err := parseCredentials(path, data)
	if err != nil {
		return nil, fmt.Errorf("--credentials: %w", err)
	}
	return func(vehicle string) (string, error) {
		pw, ok := creds[vehicle]
		if !ok {
			return "", fmt.Errorf("no password for %s in %s", vehicle, path)
		}
		return pw, nil
	}, nil
}

// createUsers gives every vehicle of f a new user of role vehicle in the
// gateway's credentials file (cloud/auth.AddUser, as `ingest-gateway
// credentials add` does), replacing an old one of that name, and returns a
// Password func over the new passwords. The file keeps only the bcrypt
// hashes; the passwords go to the vehicles' password files. The gateway
// reloads the file by itself (it polls it every second by default), so
// createUsers then waits reloadWait, or the first logins would be refused
// and retried with back-off. With save set, the new passwords are also
// written there as a credentials list (parseCredentials), mode 0600.
func createUsers(ctx context.Context, f *fleet.Fleet, path string, reloadWait time.Duration, save string) (func(string) (string, error), error) {
	pws := make(map[string]string, f.Len())
	for i := range f.Len() {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		id := f.ID(i)
		pw, err := auth.AddUser(path, id, auth.RoleVehicle, auth.AddOptions{Replace: true})
		if err != nil {
			return nil, fmt.Errorf("--gateway-credentials: %w", err)
		}
		pws[id] = pw
	}
	if save != "" {
		var b strings.Builder
		b.WriteString("# vehicle logins created in " + path + " by fleet run\n")
		for i := range f.Len() {
			b.WriteString(f.ID(i) + ":" + pws[f.ID(i)] + "\n")
		}
		if err := os.WriteFile(save, []byte(b.String()), 0o600); err != nil {
			return nil, fmt.Errorf("--save-credentials: %w", err)
		}
	}
	slog.Info("vehicle users created; waiting for the gateway to reload them", "file", path, "users", len(pws), "wait", reloadWait)
	select {
	case <-time.After(reloadWait):
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return func(vehicle string) (string, error) {
		pw, ok := pws[vehicle]
		if !ok {
			return "", fmt.Errorf("no user created for %s", vehicle)
		}
		return pw, nil
	}, nil
}
