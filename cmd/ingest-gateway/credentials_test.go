package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/kanal-dev/kanal/cloud/auth"
	"github.com/kanal-dev/kanal/internal/cli"
)

// credRun runs ingest-gateway with args and returns its exit code, standard
// output and standard error.
func credRun(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	root := newRootCmd()
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs(args)
	code := cli.Execute(context.Background(), root)
	return code, out.String(), errOut.String()
}

// lastLine returns the last line of s.
func lastLine(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return lines[len(lines)-1]
}

func TestCredentialsAdd(t *testing.T) {
	file := filepath.Join(t.TempDir(), "creds.yaml")
	code, out, errOut := credRun(t, "credentials", "add", "WVW-000001", "--file", file)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	pw := lastLine(out)
	if len(pw) != 24 || strings.ContainsAny(pw, " :\t") {
		t.Fatalf("last line %q is not a password alone:\n%s", pw, out)
	}
	if strings.Count(out, pw) != 1 {
		t.Errorf("the password is printed more than once:\n%s", out)
	}
	fi, err := os.Stat(file)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("file mode %v, want 0600", fi.Mode().Perm())
	}
	data, _ := os.ReadFile(file)
	if strings.Contains(string(data), pw) {
		t.Fatal("the file holds the password")
	}
	s, err := auth.Load(file)
	if err != nil {
		t.Fatal(err)
	}
	u, ok := s.Lookup("WVW-000001")
	h, _ := s.Hash("WVW-000001")
	if !ok || u.Role != auth.RoleVehicle {
		t.Fatalf("stored %+v, %v; want a vehicle", u, ok)
	}
	if err := bcrypt.CompareHashAndPassword([]byte(h), []byte(pw)); err != nil {
		t.Errorf("the stored hash does not verify the printed password: %v", err)
	}

	// A duplicate is refused and changes nothing; --replace gives a new one.
	code, _, errOut = credRun(t, "credentials", "add", "WVW-000001", "--file", file)
	if code != 1 || !strings.Contains(errOut, "--replace") {
		t.Errorf("duplicate: exit %d, %q", code, errOut)
	}
	if after, _ := os.ReadFile(file); string(after) != string(data) {
		t.Error("a refused add changed the file")
	}
	code, out, _ = credRun(t, "credentials", "add", "WVW-000001", "--replace", "--file", file)
	pw2 := lastLine(out)
	if code != 0 || pw2 == pw || !strings.Contains(out, "new password") {
		t.Fatalf("replace: exit %d:\n%s", code, out)
	}
	s, _ = auth.Load(file)
	h, _ = s.Hash("WVW-000001")
	if bcrypt.CompareHashAndPassword([]byte(h), []byte(pw2)) != nil || bcrypt.CompareHashAndPassword([]byte(h), []byte(pw)) == nil {
		t.Error("after --replace the new password must verify and the old one not")
	}

	// Other roles.
	for _, role := range []string{"traffic", "operator"} {
		code, out, errOut := credRun(t, "credentials", "add", role+"-user", "--role", role, "--file", file)
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", role, code, errOut)
		}
		if _, err := auth.Load(file); err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(out, role+" "+role+"-user: added") {
			t.Errorf("%s: %q", role, out)
		}
	}
}

func TestCredentialsListRemove(t *testing.T) {
	file := filepath.Join(t.TempDir(), "creds.yaml")
	for _, a := range [][]string{{"veh-2"}, {"ops", "--role", "operator"}, {"veh-1"}} {
		if code, _, errOut := credRun(t, append([]string{"credentials", "add", "--file", file}, a...)...); code != 0 {
			t.Fatalf("add %v: %s", a, errOut)
		}
	}
	code, out, _ := credRun(t, "credentials", "list", "--file", file)
	want := "NAME   ROLE\nops    operator\nveh-1  vehicle\nveh-2  vehicle\n"
	if code != 0 || out != want {
		t.Errorf("list: exit %d:\n%s\nwant:\n%s", code, out, want)
	}
	if strings.Contains(out, "$2") {
		t.Error("list shows a hash")
	}
	if code, out, _ := credRun(t, "credentials", "remove", "veh-1", "--file", file); code != 0 || !strings.Contains(out, "veh-1: removed") {
		t.Errorf("remove: exit %d %q", code, out)
	}
	if _, out, _ := credRun(t, "credentials", "list", "--file", file); strings.Contains(out, "veh-1") {
		t.Errorf("veh-1 still listed:\n%s", out)
	}
	if code, _, errOut := credRun(t, "credentials", "remove", "veh-1", "--file", file); code != 1 || !strings.Contains(errOut, "no such user") {
		t.Errorf("remove again: exit %d %q", code, errOut)
	}
}

func TestCredentialsUsage(t *testing.T) {
	file := filepath.Join(t.TempDir(), "creds.yaml")
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"credentials", "add", "veh-1"}, 2, "--file is required"},
		{[]string{"credentials", "add", "--file", file}, 2, "want one user name"},
		{[]string{"credentials", "add", "a", "b", "--file", file}, 2, "want one user name"},
		{[]string{"credentials", "add", "veh-1", "--role", "admin", "--file", file}, 2, `role "admin"`},
		{[]string{"credentials", "add", "bad:name", "--file", file}, 1, `byte 3 is ":"`},
		{[]string{"credentials", "list"}, 2, "--file is required"},
		{[]string{"credentials", "list", "--file", file}, 1, "no such file"},
		{[]string{"credentials", "remove", "--file", file}, 2, "want one user name"},
		{[]string{"credentials", "remove", "x", "--file", file}, 1, "no such file"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			code, out, errOut := credRun(t, tc.args...)
			if code != tc.code || !strings.Contains(errOut, tc.want) {
				t.Errorf("exit %d, stderr %q; want %d and %q", code, errOut, tc.code, tc.want)
			}
			if out != "" {
				t.Errorf("stdout %q on failure", out)
			}
		})
	}
	if _, err := os.Stat(file); err == nil {
		t.Error("a failed command created the file")
	}
	// A file with mistakes is not edited.
	os.WriteFile(file, []byte("version: 1\nusers: [{name: a, role: pilot}]\n"), 0o600)
	if code, _, errOut := credRun(t, "credentials", "add", "b", "--file", file); code != 1 || !strings.Contains(errOut, `role "pilot"`) {
		t.Errorf("broken file: exit %d %q", code, errOut)
	}
}
