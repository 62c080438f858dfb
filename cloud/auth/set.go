package auth

import (
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"

	"golang.org/x/crypto/bcrypt"
	"gopkg.in/yaml.v3"

	"github.com/kanal-dev/kanal/internal/yamlfile"
)

// FileVersion is the version of the credentials file this package reads
// and writes.
const FileVersion = 1

// MaxFileSize bounds a credentials file: 100,000 users take about 12 MiB.
const MaxFileSize = 64 << 20

// Set is one reading of a credentials file: immutable, so a reload swaps
// it whole and readers never lock.
type Set struct {
	file  string
	users map[string]entry
	names []string // sorted
}

type entry struct {
	role Role
	hash string
}

// Lookup returns the user called name.
func (s *Set) Lookup(name string) (User, bool) {
	e, ok := s.users[name]
	return User{Name: name, Role: e.role}, ok
}

// Hash returns the bcrypt hash of name's password, for servers that verify
// bcrypt themselves (nats-server takes "$2a$..." passwords as hashes).
func (s *Set) Hash(name string) (string, bool) {
	e, ok := s.users[name]
	return e.hash, ok
}

// Users returns every user, sorted by name.
func (s *Set) Users() []User {
	out := make([]User, len(s.names))
	for i, n := range s.names {
		out[i] = User{Name: n, Role: s.users[n].role}
	}
	return out
}

// Len returns the number of users.
func (s *Set) Len() int { return len(s.names) }

// File returns the name of the file the set was read from.
func (s *Set) File() string { return s.file }

// Load reads and checks a credentials file.
func Load(path string) (*Set, error) {
	data, err := readFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, data)
}

// readFile reads at most MaxFileSize bytes of path.
func readFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("credentials: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("credentials: read %s: %w", path, err)
	}
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("credentials: %s is larger than %d MiB", path, MaxFileSize>>20)
	}
	return data, nil
}

// Parse checks the text of a credentials file (see the package comment)
// and returns its users; file names it in errors, which list every mistake
// with its line and column.
func Parse(file string, data []byte) (*Set, error) {
	root, err := yamlfile.Parse(file, data)
	if err != nil {
		return nil, err
	}
	errs := &yamlfile.Errors{File: file}
	s := &Set{file: file, users: make(map[string]entry)}
	lines := make(map[string]int)
	version := false
	errs.Pairs(root, []string{"version", "users"}, func(key string, k, v *yaml.Node) {
		switch key {
		case "version":
			var n int64
			if errs.Scalar(v, "version", &n) {
				if n != FileVersion {
					errs.Addf(v, "version %d: this gateway reads version %d", n, FileVersion)
				}
				version = true
			}
		case "users":
			if v.Kind == yaml.ScalarNode && v.Tag == "!!null" {
				return // "users:" with nothing after it: no users yet
			}
			if v.Kind != yaml.SequenceNode {
				errs.Addf(v, "users: want a list")
				return
			}
			for _, item := range v.Content {
				parseUser(errs, item, s, lines)
			}
		}
	})
	if !version {
		errs.Addf(root, "version: missing (want version: %d)", FileVersion)
	}
	if err := errs.Err(); err != nil {
		return nil, err
	}
	sort.Strings(s.names)
	return s, nil
}

func parseUser(errs *yamlfile.Errors, item *yaml.Node, s *Set, lines map[string]int) {
	if item.Kind != yaml.MappingNode {
		errs.Addf(item, "user: want a mapping with name, role and bcrypt")
		return
	}
	var name, role, hash string
	var nameNode *yaml.Node
	errs.Pairs(item, []string{"name", "role", "bcrypt"}, func(key string, k, v *yaml.Node) {
		switch key {
		case "name":
			if errs.Scalar(v, "name", &name) {
				nameNode = v
				if err := CheckName(name); err != nil {
					errs.Addf(v, "%v", err)
					name = ""
				}
			}
		case "role":
			if errs.Scalar(v, "role", &role) {
				if _, err := ParseRole(role); err != nil {
					errs.Addf(v, "%v", err)
					role = ""
				}
			}
		case "bcrypt":
			// A mistake here never quotes the value: it may be a real hash.
			if v.Kind != yaml.ScalarNode || v.Tag != "!!str" {
				errs.Addf(v, "bcrypt: want the hash as a string")
				return
			}
			if err := checkHash(v.Value); err != nil {
				errs.Addf(v, "bcrypt: %v", err)
				return
			}
			hash = v.Value
		}
	})
	missing := []string{}
	for _, f := range []struct{ key, val string }{{"name", name}, {"role", role}, {"bcrypt", hash}} {
		if f.val == "" && !hasKey(item, f.key) {
			missing = append(missing, f.key)
		}
	}
	if len(missing) > 0 {
		errs.Addf(item, "user: missing %v", missing)
		return
	}
	if name == "" || role == "" || hash == "" {
		return // already reported
	}
	if first, dup := lines[name]; dup {
		errs.Addf(nameNode, "user %q: duplicate name (first at line %d)", name, first)
		return
	}
	lines[name] = nameNode.Line
	s.users[name] = entry{role: Role(role), hash: hash}
	s.names = append(s.names, name)
}

func hasKey(m *yaml.Node, key string) bool {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return true
		}
	}
	return false
}

// checkHash reports whether h is a well-formed bcrypt hash: $2a$, $2b$ or
// $2y$, a cost from 4 to 31 and 53 characters of bcrypt's base64.
func checkHash(h string) error {
	if len(h) != 60 {
		return fmt.Errorf("not a bcrypt hash (%d characters, want 60)", len(h))
	}
	if _, err := bcrypt.Cost([]byte(h)); err != nil {
		return errors.New("not a bcrypt hash (want $2a$, $2b$ or $2y$ and a cost from 4 to 31)")
	}
	if !slices.Contains([]string{"$2a$", "$2b$", "$2y$"}, h[:4]) || h[6] != '$' {
		return errors.New("not a bcrypt hash (want $2a$, $2b$ or $2y$ and a cost from 4 to 31)")
	}
	for i := 7; i < len(h); i++ {
		c := h[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '/') {
			return fmt.Errorf("not a bcrypt hash (character %d is not bcrypt base64)", i+1)
		}
	}
	return nil
}
