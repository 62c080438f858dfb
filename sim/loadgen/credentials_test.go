package loadgen

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/kanal-dev/kanal/cloud/auth"
)

// TestWriteCredentials writes a fleet's file and reads it back with the
// gateway's own loader: every vehicle is there with its role, and each
// password checks against its hash, and no other vehicle's.
func TestWriteCredentials(t *testing.T) {
	path := filepath.Join(t.TempDir(), "credentials.yaml")
	pw, err := WriteCredentials(path, CredentialsOptions{VehiclePrefix: "fleet", FirstVehicle: 11, Vehicles: 40})
	if err != nil {
		t.Fatal(err)
	}
	set, err := auth.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if set.Len() != 40 {
		t.Fatalf("%d users", set.Len())
	}
	for i := 11; i <= 50; i++ {
		v := VehicleID("fleet", i)
		u, ok := set.Lookup(v)
		h, _ := set.Hash(v)
		if !ok || u.Role != auth.RoleVehicle {
			t.Fatalf("%s: %+v %v", v, u, ok)
		}
		if err := bcrypt.CompareHashAndPassword([]byte(h), []byte(pw(v))); err != nil {
			t.Fatalf("%s: %v", v, err)
		}
		if cost, _ := bcrypt.Cost([]byte(h)); cost != bcrypt.MinCost {
			t.Fatalf("%s: cost %d", v, cost)
		}
		if pw(v) == pw(VehicleID("fleet", i+1)) || len(pw(v)) != 24 {
			t.Fatalf("%s: password %q", v, pw(v))
		}
	}
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, %v", st.Mode(), err)
	}
	data, _ := os.ReadFile(path)
	if strings.Contains(string(data), pw(VehicleID("fleet", 11))) {
		t.Error("a password is in the file")
	}
	if _, err := WriteCredentials(path, CredentialsOptions{Vehicles: 2}); err == nil || !strings.Contains(err.Error(), "exists") {
		t.Errorf("overwrote without Replace: %v", err)
	}
	if _, err := WriteCredentials(path, CredentialsOptions{Vehicles: 2, Replace: true, Cost: 5}); err != nil {
		t.Fatal(err)
	}
	if set, err := auth.Load(path); err != nil || set.Len() != 2 {
		t.Errorf("replaced file: %v", err)
	}
	for _, bad := range []CredentialsOptions{{Cost: 2}, {Vehicles: -1}, {VehiclePrefix: "a.b"}, {FirstVehicle: -4}} {
		if _, err := WriteCredentials(filepath.Join(t.TempDir(), "c.yaml"), bad); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}

// TestCredentialsLogin logs a fleet in with the passwords of the file
// through a broker that checks them with the file's bcrypt hashes, as the
// gateway does.
func TestCredentialsLogin(t *testing.T) {
	path := filepath.Join(t.TempDir(), "credentials.yaml")
	pw, err := WriteCredentials(path, CredentialsOptions{Vehicles: 6})
	if err != nil {
		t.Fatal(err)
	}
	set, err := auth.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	addr := startMochiFunc(t, func(user, password string) bool {
		h, ok := set.Hash(user)
		return ok && bcrypt.CompareHashAndPassword([]byte(h), []byte(password)) == nil
	})
	wrong := func(v string) string {
		if v == VehicleID(DefaultVehiclePrefix, 6) {
			return pw(VehicleID(DefaultVehiclePrefix, 5)) // another vehicle's password
		}
		return pw(v)
	}
	rep := run(t, Options{Broker: addr, Connections: 6, Password: wrong, Duration: 500 * time.Millisecond, Profile: smallProfile(t)})
	if rep.Connected != 5 || rep.ConnectFailuresTotal() != 1 {
		t.Errorf("connected %d, failures %v", rep.Connected, rep.ConnectFailures)
	}
}

func TestPasswordsKey(t *testing.T) {
	key := []byte("shared by a benchmark and its generator")
	path := filepath.Join(t.TempDir(), "c.yaml")
	pw, err := WriteCredentials(path, CredentialsOptions{Vehicles: 3, Key: key})
	if err != nil {
		t.Fatal(err)
	}
	other := Passwords(key)
	v := VehicleID(DefaultVehiclePrefix, 2)
	if pw(v) != other(v) || Passwords([]byte("another key"))(v) == pw(v) {
		t.Error("passwords do not follow the key")
	}
}
