package auth

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"gopkg.in/yaml.v3"
)

// ErrExists is returned by AddUser for a name the file already has when
// AddOptions.Replace is not set.
var ErrExists = errors.New("user exists")

// ErrNoUser is returned by RemoveUser for a name the file does not have.
var ErrNoUser = errors.New("no such user")

// AddOptions tune AddUser.
type AddOptions struct {
	// Replace gives an existing user a new password and role instead of
	// refusing with ErrExists.
	Replace bool
	// Cost is the bcrypt work factor (DefaultCost when 0).
	Cost int
}

// AddUser adds the user name with role to the credentials file at path,
// creating the file when it does not exist, and returns the user's new
// random password: the only place it ever appears. The file keeps only the
// password's bcrypt hash. It is rewritten atomically (a temporary file in
// the same directory, fsync, rename, fsync of the directory) with mode
// 0600, comments kept, under an exclusive lock (path + ".lock") so that
// concurrent edits do not lose each other. A gateway watching the file
// picks the change up by itself.
func AddUser(path, name string, role Role, opts AddOptions) (password string, err error) {
	if err := CheckName(name); err != nil {
		return "", err
	}
	if _, err := ParseRole(string(role)); err != nil {
		return "", err
	}
	password = NewPassword()
	hash, err := Hash(password, opts.Cost)
	if err != nil {
		return "", err
	}
	err = edit(path, true, func(users *yaml.Node, s *Set) error {
		if _, ok := s.Lookup(name); ok {
			if !opts.Replace {
				return fmt.Errorf("user %q: %w in %s (give --replace to set a new password)", name, ErrExists, path)
			}
			item := findUser(users, name)
			setKey(item, "role", string(role))
			setKey(item, "bcrypt", hash)
			return nil
		}
		users.Content = append(users.Content, &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Content: []*yaml.Node{
			scalar("name"), scalar(name), scalar("role"), scalar(string(role)), scalar("bcrypt"), scalar(hash),
		}})
		return nil
	})
	if err != nil {
		return "", err
	}
	return password, nil
}

// RemoveUser removes the user name from the credentials file at path, as
// AddUser edits it.
func RemoveUser(path, name string) error {
	return edit(path, false, func(users *yaml.Node, s *Set) error {
		if _, ok := s.Lookup(name); !ok {
			return fmt.Errorf("user %q: %w in %s", name, ErrNoUser, path)
		}
		for i, item := range users.Content {
			if userName(item) == name {
				users.Content = append(users.Content[:i], users.Content[i+1:]...)
				break
			}
		}
		return nil
	})
}

// edit locks path, reads and checks it (an empty file when it is missing
// and create is set), lets fn change the users list, and writes the result
// atomically.
func edit(path string, create bool, fn func(users *yaml.Node, s *Set) error) error {
	unlock, err := lock(path)
	if err != nil {
		return err
	}
	defer unlock()
	data, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist) && create:
		data = []byte(newFile)
	case err != nil:
		return fmt.Errorf("credentials: %w", err)
	case len(bytes.TrimSpace(data)) == 0 && create:
		data = []byte(newFile) // created empty (touch) to be filled
	}
	s, err := Parse(path, data)
	if err != nil {
		return fmt.Errorf("credentials file has mistakes, fix them first:\n%w", err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return fmt.Errorf("credentials: %s: %w", path, err) // Parse accepted it: cannot happen
	}
	users := usersNode(doc.Content[0])
	if err := fn(users, s); err != nil {
		return err
	}
	var out bytes.Buffer
	enc := yaml.NewEncoder(&out)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return fmt.Errorf("credentials: encode %s: %w", path, err)
	}
	if err := enc.Close(); err != nil {
		return fmt.Errorf("credentials: encode %s: %w", path, err)
	}
	if _, err := Parse(path, out.Bytes()); err != nil {
		return fmt.Errorf("credentials: the edited file does not read back: %w", err) // a bug, never written
	}
	return writeAtomic(path, out.Bytes())
}

// newFile is the text of a credentials file that does not exist yet.
const newFile = `# Kanal credentials: users of the ingest gateway and the bcrypt hashes of
# their passwords. Edit with: ingest-gateway credentials add|list|remove.
version: 1
users: []
`

// usersNode returns the users sequence of the root mapping, creating or
// replacing an empty one ("users:" with no value).
func usersNode(root *yaml.Node) *yaml.Node {
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value == "users" {
			v := root.Content[i+1]
			if v.Kind != yaml.SequenceNode {
				*v = yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
			}
			if len(v.Content) == 0 {
				v.Style = 0 // "users: []" grows into a block list
			}
			return v
		}
	}
	v := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
	root.Content = append(root.Content, scalar("users"), v)
	return v
}

func findUser(users *yaml.Node, name string) *yaml.Node {
	for _, item := range users.Content {
		if userName(item) == name {
			return item
		}
	}
	return nil
}

func userName(item *yaml.Node) string {
	for i := 0; i+1 < len(item.Content); i += 2 {
		if item.Content[i].Value == "name" {
			return item.Content[i+1].Value
		}
	}
	return ""
}

// setKey sets key of mapping m to value, adding the key when missing.
func setKey(m *yaml.Node, key, value string) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			v := m.Content[i+1]
			v.Kind, v.Tag, v.Value, v.Style = yaml.ScalarNode, "!!str", value, 0
			return
		}
	}
	m.Content = append(m.Content, scalar(key), scalar(value))
}

func scalar(v string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: v} }

// lock takes an exclusive flock on path + ".lock", a file that is never
// renamed, so that it guards the credentials file across its renames.
func lock(path string) (func(), error) {
	f, err := os.OpenFile(path+".lock", os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("credentials: lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("credentials: lock %s: %w", f.Name(), err)
	}
	return func() { f.Close() }, nil
}

// writeAtomic replaces path with data: a reader sees the old file or the
// new one, never a part, also across a power loss.
func writeAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("credentials: %w", err)
	}
	done := false
	defer func() {
		if !done {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err := tmp.Chmod(0o600); err != nil {
		return fmt.Errorf("credentials: %w", err)
	}
	if _, err := tmp.Write(data); err != nil {
		return fmt.Errorf("credentials: write %s: %w", tmp.Name(), err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("credentials: sync %s: %w", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("credentials: close %s: %w", tmp.Name(), err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("credentials: %w", err)
	}
	done = true
	if d, err := os.Open(dir); err == nil {
		d.Sync() // the rename itself survives a power loss
		d.Close()
	}
	return nil
}
