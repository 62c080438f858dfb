package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strings"
	"sync"

	"github.com/kanal-dev/kanal/cloud/auth"
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

// inGateway returns a Password func that gives each vehicle a new user of
// role vehicle in the gateway's credentials file (cloud/auth.AddUser, as
// `ingest-gateway credentials add` does), replacing an old one of that
// name: the file keeps only the bcrypt hash, the password goes to the
// vehicle's password file. The gateway picks the change up by itself.
func inGateway(path string) func(string) (string, error) {
	var mu sync.Mutex // AddUser locks the file too; this keeps our own calls in line
	return func(vehicle string) (string, error) {
		mu.Lock()
		defer mu.Unlock()
		return auth.AddUser(path, vehicle, auth.RoleVehicle, auth.AddOptions{Replace: true})
	}
}
