package loadgen

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sync"

	"golang.org/x/crypto/bcrypt"

	"github.com/kanal-dev/kanal/cloud/auth"
)

// CredentialsOptions say which fleet WriteCredentials writes.
type CredentialsOptions struct {
	// VehiclePrefix, FirstVehicle and Vehicles name the fleet as
	// Options.VehiclePrefix, FirstVehicle and Connections do (defaults
	// "load", 1 and 100).
	VehiclePrefix string `yaml:"vehicle_prefix"`
	FirstVehicle  int    `yaml:"first_vehicle"`
	Vehicles      int    `yaml:"vehicles"`
	// Cost is the bcrypt work factor (default 4, bcrypt's minimum: hashing
	// 10,000 passwords takes about 10 CPU seconds, and each login costs the
	// gateway a quarter of what its own default of 6 costs; give 6 to
	// measure logins as the gateway's own users cost them).
	Cost int `yaml:"cost"`
	// Replace overwrites an existing file; without it WriteCredentials
	// refuses, so that a gateway's real credentials file is never lost to
	// a load test.
	Replace bool `yaml:"replace"`
	// Key derives the passwords (see Passwords). nil means a random key,
	// so that the passwords exist only in the returned function; give two
	// processes the same key when one writes the file and the other logs
	// in (a benchmark and its generator).
	Key []byte `yaml:"-"`
}

// Passwords returns the password of each vehicle under key: the first 18
// bytes of HMAC-SHA256(key, vehicle id) in unpadded base64url, 24
// characters like the gateway's own passwords (auth.NewPassword).
func Passwords(key []byte) func(vehicle string) string {
	key = bytes.Clone(key)
	return func(vehicle string) string {
		m := hmac.New(sha256.New, key)
		m.Write([]byte(vehicle))
		return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:18])
	}
}

// WriteCredentials writes a gateway credentials file (the format of
// cloud/auth, version 1) holding one vehicle user per vehicle of the
// fleet, each with its own random password, and returns the function that
// gives a vehicle's password (for Options.Password). The passwords are
// derived from opts.Key (Passwords), by default a random key kept only in
// that function, so they exist nowhere else: a file written for one run
// serves that run. The file is written atomically with mode 0600.
func WriteCredentials(path string, opts CredentialsOptions) (func(vehicle string) string, error) {
	if opts.VehiclePrefix == "" {
		opts.VehiclePrefix = DefaultVehiclePrefix
	}
	if opts.FirstVehicle == 0 {
		opts.FirstVehicle = 1
	}
	if opts.Vehicles == 0 {
		opts.Vehicles = DefaultConnections
	}
	if opts.Cost == 0 {
		opts.Cost = bcrypt.MinCost
	}
	switch {
	case opts.FirstVehicle < 0:
		return nil, fmt.Errorf("credentials: options: first_vehicle %d: must not be negative", opts.FirstVehicle)
	case opts.Vehicles < 0 || opts.Vehicles > maxConnections:
		return nil, fmt.Errorf("credentials: options: vehicles %d: want 1 to %d", opts.Vehicles, maxConnections)
	case opts.Cost < bcrypt.MinCost || opts.Cost > bcrypt.MaxCost:
		return nil, fmt.Errorf("credentials: options: cost %d: want %d to %d", opts.Cost, bcrypt.MinCost, bcrypt.MaxCost)
	}
	if err := auth.CheckName(VehicleID(opts.VehiclePrefix, opts.FirstVehicle+opts.Vehicles-1)); err != nil {
		return nil, fmt.Errorf("credentials: options: vehicle_prefix %q: %w", opts.VehiclePrefix, err)
	}
	if !opts.Replace {
		if _, err := os.Stat(path); err == nil {
			return nil, fmt.Errorf("credentials: %s exists (replace it only on purpose)", path)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("credentials: %w", err)
		}
	}
	key := opts.Key
	if key == nil {
		key = make([]byte, 32)
		rand.Read(key) // never fails
	}
	password := Passwords(key)
	hashes := make([]string, opts.Vehicles)
	errs := make([]error, opts.Vehicles)
	var wg sync.WaitGroup
	workers := runtime.GOMAXPROCS(0)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < opts.Vehicles; i += workers {
				hashes[i], errs[i] = auth.Hash(password(VehicleID(opts.VehiclePrefix, opts.FirstVehicle+i)), opts.Cost)
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("credentials: %w", err)
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "# Kanal credentials: %d load-test vehicles %s to %s, written by sim/loadgen.\n",
		opts.Vehicles, VehicleID(opts.VehiclePrefix, opts.FirstVehicle), VehicleID(opts.VehiclePrefix, opts.FirstVehicle+opts.Vehicles-1))
	fmt.Fprintf(&b, "# Their passwords lived only in the generator that wrote it.\nversion: %d\nusers:\n", auth.FileVersion)
	for i, h := range hashes {
		fmt.Fprintf(&b, "  - name: %s\n    role: %s\n    bcrypt: %s\n", VehicleID(opts.VehiclePrefix, opts.FirstVehicle+i), auth.RoleVehicle, h)
	}
	if err := writeFileAtomic(path, b.Bytes()); err != nil {
		return nil, err
	}
	return password, nil
}

// writeFileAtomic replaces path with data (a temporary file in the same
// directory, renamed), so that a gateway watching the file never reads a
// part of it.
func writeFileAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("credentials: %w", err)
	}
	defer os.Remove(tmp.Name()) // after the rename: nothing to remove
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("credentials: %w", err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("credentials: write %s: %w", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("credentials: close %s: %w", tmp.Name(), err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("credentials: %w", err)
	}
	return nil
}
