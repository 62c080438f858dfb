package auth

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

// Passwords of testdata/good.yaml.
const (
	vehiclePassword  = "vehicle-one-password-123"
	trafficPassword  = "traffic-password-xyz"
	operatorPassword = "operator-password-abc"
)

func TestLoadGood(t *testing.T) {
	s, err := Load("testdata/good.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want := []User{{"city-traffic", RoleTraffic}, {"ops", RoleOperator}, {"veh-001", RoleVehicle}}
	got := s.Users()
	if len(got) != len(want) {
		t.Fatalf("Users = %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("Users[%d] = %v, want %v", i, got[i], want[i])
		}
	}
	for name, pw := range map[string]string{"veh-001": vehiclePassword, "city-traffic": trafficPassword, "ops": operatorPassword} {
		h, ok := s.Hash(name)
		if !ok || bcrypt.CompareHashAndPassword([]byte(h), []byte(pw)) != nil {
			t.Errorf("hash of %s does not verify its password", name)
		}
	}
	if _, ok := s.Lookup("nobody"); ok {
		t.Error("Lookup(nobody) found a user")
	}
	if s.Len() != 3 || s.File() != "testdata/good.yaml" {
		t.Errorf("Len %d File %q", s.Len(), s.File())
	}
}

func TestLoadEmptyUsers(t *testing.T) {
	s, err := Load("testdata/empty_users.yaml")
	if err != nil || s.Len() != 0 {
		t.Fatalf("Load = %v, %v; want no users", s, err)
	}
}

// TestParseMistakes pins the whole report: every mistake at once, in file
// order, with line and column, and no hash quoted.
func TestParseMistakes(t *testing.T) {
	_, err := Load("testdata/mistakes.yaml")
	if err == nil {
		t.Fatal("no error")
	}
	want := []string{
		`testdata/mistakes.yaml:1:10: version 2: this gateway reads version 1`,
		`testdata/mistakes.yaml:3:11: user name: vehicle id "bad name": byte 3 is " " (want A-Z, a-z, 0-9, _ or -)`,
		`testdata/mistakes.yaml:4:11: role "driver": want vehicle, traffic or operator`,
		`testdata/mistakes.yaml:5:13: bcrypt: not a bcrypt hash (15 characters, want 60)`,
		`testdata/mistakes.yaml:6:5: user: missing [bcrypt]`,
		`testdata/mistakes.yaml:11:5: unknown field "password" (want one of [name role bcrypt])`,
		`testdata/mistakes.yaml:12:11: user "veh-001": duplicate name (first at line 8)`,
		`testdata/mistakes.yaml:15:1: unknown field "extra" (want one of [version users])`,
	}
	got := strings.Split(err.Error(), "\n")
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("report:\n%s\nwant:\n%s", err, strings.Join(want, "\n"))
	}
}

func TestParse(t *testing.T) {
	const h = "$2a$04$XDKMxaYmfyjS.XJxJxqq/OF50GIr0p0td80LakLJtYRbVnXI5PnPy"
	for _, tc := range []struct {
		name, text, want string // want: "" for success, else a substring of the error
	}{
		{"minimal", "version: 1\nusers: []\n", ""},
		{"no users key", "version: 1\n", ""},
		{"no version", "users: []\n", "f:1:1: version: missing (want version: 1)"},
		{"version text", "version: one\n", `f:1:10: version: "one" is not a valid integer`},
		{"users not a list", "version: 1\nusers: {a: 1}\n", "f:2:8: users: want a list"},
		{"user not a mapping", "version: 1\nusers: [veh]\n", "f:2:9: user: want a mapping with name, role and bcrypt"},
		{"missing all", "version: 1\nusers: [{}]\n", "f:2:9: user: missing [name role bcrypt]"},
		{"hash not a string", "version: 1\nusers: [{name: a, role: vehicle, bcrypt: [1]}]\n", "bcrypt: want the hash as a string"},
		{"hash number", "version: 1\nusers: [{name: a, role: vehicle, bcrypt: 12}]\n", "bcrypt: want the hash as a string"},
		{"md5 crypt", "version: 1\nusers: [{name: a, role: vehicle, bcrypt: '$1$" + strings.Repeat("a", 57) + "'}]\n", "not a bcrypt hash (want $2a$"},
		{"bad base64", "version: 1\nusers: [{name: a, role: vehicle, bcrypt: '" + h[:59] + "!'}]\n", "character 60 is not bcrypt base64"},
		{"cost 3", "version: 1\nusers: [{name: a, role: vehicle, bcrypt: '$2a$03" + h[6:] + "'}]\n", "not a bcrypt hash"},
		{"2b and 2y", "version: 1\nusers: [{name: a, role: vehicle, bcrypt: '$2b" + h[3:] + "'}, {name: b, role: vehicle, bcrypt: '$2y" + h[3:] + "'}]\n", ""},
		{"name with colon", "version: 1\nusers: [{name: 'a:b', role: operator, bcrypt: '" + h + "'}]\n", `byte 1 is ":"`},
		{"name too long", "version: 1\nusers: [{name: " + strings.Repeat("a", 65) + ", role: operator, bcrypt: '" + h + "'}]\n", "65 bytes long"},
		{"name number", "version: 1\nusers: [{name: 12345, role: vehicle, bcrypt: '" + h + "'}]\n", ""},
		{"anchor", "version: 1\nusers: [&a {name: a, role: vehicle, bcrypt: '" + h + "'}]\n", "anchors and aliases are not supported"},
		{"empty", "", "f:1: empty file"},
		{"syntax", "version: [\n", "f: yaml:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Parse("f", []byte(tc.text))
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Parse: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Parse error %v, want %q", err, tc.want)
			}
			if s != nil {
				t.Error("a Set came back with the error")
			}
		})
	}
}

// TestParseNeverQuotesHashes: a mistake in a bcrypt value or next to it
// does not copy the hash into the error, which ends up in logs.
func TestParseNeverQuotesHashes(t *testing.T) {
	const h = "$2a$04$XDKMxaYmfyjS.XJxJxqq/OF50GIr0p0td80LakLJtYRbVnXI5PnPy"
	for _, bad := range []string{h[:59] + "!", h + "x", "$9" + h[2:], strings.Replace(h, "$04$", "$99$", 1)} {
		_, err := Parse("f", []byte("version: 1\nusers: [{name: a, role: vehicle, bcrypt: '"+bad+"'}]\n"))
		if err == nil {
			t.Fatalf("%q accepted", bad)
		}
		if strings.Contains(err.Error(), bad[7:]) {
			t.Errorf("error quotes the hash: %v", err)
		}
	}
}

func TestLoadLimits(t *testing.T) {
	if _, err := Load(filepath.Join(t.TempDir(), "none.yaml")); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("missing file: %v", err)
	}
	big := filepath.Join(t.TempDir(), "big.yaml")
	if err := os.WriteFile(big, make([]byte, MaxFileSize+1), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(big); err == nil || !strings.Contains(err.Error(), "larger than 64 MiB") {
		t.Errorf("big file: %v", err)
	}
}

func TestParseRole(t *testing.T) {
	for _, r := range Roles {
		if got, err := ParseRole(string(r)); err != nil || got != r {
			t.Errorf("ParseRole(%s) = %v, %v", r, got, err)
		}
	}
	for _, s := range []string{"", "Vehicle", "admin"} {
		if _, err := ParseRole(s); err == nil {
			t.Errorf("ParseRole(%q) accepted", s)
		}
	}
}
