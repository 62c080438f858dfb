package auth

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

func TestAddUserCreatesFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "creds.yaml")
	pw, err := AddUser(path, "veh-1", RoleVehicle, AddOptions{Cost: 4})
	if err != nil {
		t.Fatal(err)
	}
	if len(pw) != 24 || strings.HasPrefix(pw, "-") {
		t.Errorf("password %q: want 24 characters, not starting with '-'", pw)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
	data, _ := os.ReadFile(path)
	if strings.Contains(string(data), pw) {
		t.Fatal("the file holds the password")
	}
	s, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	h, ok := s.Hash("veh-1")
	if !ok {
		t.Fatalf("user not stored:\n%s", data)
	}
	if err := bcrypt.CompareHashAndPassword([]byte(h), []byte(pw)); err != nil {
		t.Errorf("stored hash does not verify the printed password: %v", err)
	}
	if u, _ := s.Lookup("veh-1"); u.Role != RoleVehicle {
		t.Errorf("role %q", u.Role)
	}
	if !strings.HasPrefix(string(data), "# Kanal credentials") {
		t.Errorf("new file lacks its header comment:\n%s", data)
	}
	leftovers, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".creds.yaml.tmp*"))
	if len(leftovers) > 0 {
		t.Errorf("temporary files left: %v", leftovers)
	}
}

func TestAddUserDefaultCost(t *testing.T) {
	path := filepath.Join(t.TempDir(), "creds.yaml")
	if _, err := AddUser(path, "ops", RoleOperator, AddOptions{}); err != nil {
		t.Fatal(err)
	}
	s, _ := Load(path)
	h, _ := s.Hash("ops")
	if c, _ := bcrypt.Cost([]byte(h)); c != DefaultCost {
		t.Errorf("cost %d, want %d", c, DefaultCost)
	}
}

func TestAddUserDuplicateAndReplace(t *testing.T) {
	path := filepath.Join(t.TempDir(), "creds.yaml")
	first, err := AddUser(path, "svc", RoleTraffic, AddOptions{Cost: 4})
	if err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(path)
	if _, err := AddUser(path, "svc", RoleOperator, AddOptions{Cost: 4}); !errors.Is(err, ErrExists) {
		t.Fatalf("duplicate: %v, want ErrExists", err)
	}
	after, _ := os.ReadFile(path)
	if string(before) != string(after) {
		t.Error("a refused add changed the file")
	}
	second, err := AddUser(path, "svc", RoleOperator, AddOptions{Cost: 4, Replace: true})
	if err != nil {
		t.Fatal(err)
	}
	s, _ := Load(path)
	if s.Len() != 1 {
		t.Fatalf("%d users after replace, want 1", s.Len())
	}
	u, _ := s.Lookup("svc")
	h, _ := s.Hash("svc")
	if u.Role != RoleOperator {
		t.Errorf("role %s after replace, want operator", u.Role)
	}
	if bcrypt.CompareHashAndPassword([]byte(h), []byte(second)) != nil || bcrypt.CompareHashAndPassword([]byte(h), []byte(first)) == nil {
		t.Error("after replace the new password must verify and the old one not")
	}
}

func TestAddUserBadInput(t *testing.T) {
	path := filepath.Join(t.TempDir(), "creds.yaml")
	for _, tc := range []struct {
		name string
		role Role
		want string
	}{
		{"a:b", RoleVehicle, `byte 1 is ":"`},
		{"", RoleVehicle, "empty"},
		{"ok", "admin", `role "admin"`},
	} {
		if _, err := AddUser(path, tc.name, tc.role, AddOptions{Cost: 4}); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("AddUser(%q, %q): %v, want %q", tc.name, tc.role, err, tc.want)
		}
	}
	if _, err := os.Stat(path); err == nil {
		t.Error("a refused add created the file")
	}
	if _, err := AddUser(path, "ok", RoleVehicle, AddOptions{Cost: 3}); err == nil || !strings.Contains(err.Error(), "cost 3") {
		t.Errorf("cost 3: %v", err)
	}
}

// TestEditKeepsComments: a file people wrote keeps its comments and order.
func TestEditKeepsComments(t *testing.T) {
	path := filepath.Join(t.TempDir(), "creds.yaml")
	good, _ := os.ReadFile("testdata/good.yaml")
	os.WriteFile(path, good, 0o600)
	if _, err := AddUser(path, "veh-002", RoleVehicle, AddOptions{Cost: 4}); err != nil {
		t.Fatal(err)
	}
	if err := RemoveUser(path, "city-traffic"); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	for _, want := range []string{"# Test credentials.", "# the fleet operators"} {
		if !strings.Contains(string(data), want) {
			t.Errorf("comment %q lost:\n%s", want, data)
		}
	}
	s, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, u := range s.Users() {
		names = append(names, u.Name)
	}
	if fmt.Sprint(names) != "[ops veh-001 veh-002]" {
		t.Errorf("users %v", names)
	}
	if strings.Index(string(data), "veh-001") > strings.Index(string(data), "veh-002") {
		t.Error("the new user is not appended at the end")
	}
}

func TestRemoveUser(t *testing.T) {
	path := filepath.Join(t.TempDir(), "creds.yaml")
	if err := RemoveUser(path, "x"); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("missing file: %v", err)
	}
	AddUser(path, "a", RoleVehicle, AddOptions{Cost: 4})
	AddUser(path, "b", RoleVehicle, AddOptions{Cost: 4})
	if err := RemoveUser(path, "c"); !errors.Is(err, ErrNoUser) {
		t.Errorf("unknown user: %v", err)
	}
	if err := RemoveUser(path, "a"); err != nil {
		t.Fatal(err)
	}
	if err := RemoveUser(path, "b"); err != nil {
		t.Fatal(err)
	}
	s, err := Load(path)
	if err != nil || s.Len() != 0 {
		t.Fatalf("after removing all: %v, %v", s, err)
	}
	if _, err := AddUser(path, "c", RoleVehicle, AddOptions{Cost: 4}); err != nil {
		t.Fatalf("add to an emptied file: %v", err)
	}
}

func TestEditRefusesBrokenFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "creds.yaml")
	bad := "version: 1\nusers:\n  - name: a\n    role: pilot\n"
	os.WriteFile(path, []byte(bad), 0o600)
	if _, err := AddUser(path, "b", RoleVehicle, AddOptions{Cost: 4}); err == nil || !strings.Contains(err.Error(), "fix them first") || !strings.Contains(err.Error(), ":4:11:") {
		t.Errorf("AddUser on a broken file: %v", err)
	}
	if data, _ := os.ReadFile(path); string(data) != bad {
		t.Error("the broken file was changed")
	}
}

func TestAddUserToTouchedFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "creds.yaml")
	os.WriteFile(path, nil, 0o644)
	if _, err := AddUser(path, "a", RoleVehicle, AddOptions{Cost: 4}); err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(path)
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600 even when the file was created otherwise", fi.Mode().Perm())
	}
}

// TestConcurrentAdds: edits from several processes (here goroutines with
// their own lock descriptors) lose nothing.
func TestConcurrentAdds(t *testing.T) {
	path := filepath.Join(t.TempDir(), "creds.yaml")
	const n = 16
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			if _, err := AddUser(path, fmt.Sprintf("veh-%02d", i), RoleVehicle, AddOptions{Cost: 4}); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	s, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if s.Len() != n {
		t.Errorf("%d users, want %d", s.Len(), n)
	}
}

func TestNewPassword(t *testing.T) {
	seen := make(map[string]bool)
	for range 1000 {
		p := NewPassword()
		if len(p) != 24 || p[0] == '-' || strings.ContainsAny(p, ":+/= ") || seen[p] {
			t.Fatalf("password %q", p)
		}
		seen[p] = true
	}
}
