package auth

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse: the loader of a file people edit never panics or hangs, and
// what it accepts keeps its promises: valid names, roles and hashes, sorted
// and unique users.
func FuzzParse(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/*.yaml")
	for _, p := range seeds {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("version: 1\nusers: [{name: a, role: vehicle, bcrypt: x}]\n"))
	f.Add([]byte("version: 1\nusers:\n- {name: a, role: traffic}\n- {name: a}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Parse("f", data)
		if err != nil {
			if s != nil {
				t.Fatal("a Set came back with an error")
			}
			return
		}
		users := s.Users()
		if len(users) != s.Len() {
			t.Fatalf("Users %d, Len %d", len(users), s.Len())
		}
		for i, u := range users {
			if err := CheckName(u.Name); err != nil {
				t.Fatalf("accepted name: %v", err)
			}
			if _, err := ParseRole(string(u.Role)); err != nil {
				t.Fatalf("accepted role: %v", err)
			}
			h, ok := s.Hash(u.Name)
			if !ok || checkHash(h) != nil {
				t.Fatalf("accepted hash of %s is not bcrypt", u.Name)
			}
			if i > 0 && users[i-1].Name >= u.Name {
				t.Fatalf("users not sorted and unique: %v", users)
			}
		}
	})
}
