package catalog

import (
	_ "embed"
	"fmt"
	"os"
	"sort"
	"sync"
)

// ID ranges. The default catalog owns 1–0xFFFF; user files own 0x10000 and
// up, so a new default signal can never collide with a user's.
const (
	MaxDefaultID uint32 = 0xFFFF
	MinUserID    uint32 = 0x10000
)

//go:embed default.yaml
var defaultYAML []byte

// DefaultFile is the name the embedded default catalog has in errors.
const DefaultFile = "catalog/default.yaml"

// Catalog is a set of entries, looked up by ID or by path. A Catalog is
// immutable once built and safe for concurrent use.
type Catalog struct {
	entries []Entry           // sorted by ID
	byID    map[uint32]int32  // index into entries
	byPath  map[string]int32  // index into entries
	retired map[uint32]string // retired id -> where it was declared
}

var defaultCatalog = sync.OnceValues(func() (*Catalog, error) {
	return parse(DefaultFile, defaultYAML, &Catalog{}, 1, MaxDefaultID)
})

// Default returns the embedded default catalog. It is built once; the
// package tests guarantee the embedded file is valid.
func Default() *Catalog {
	c, err := defaultCatalog()
	if err != nil {
		panic("catalog: embedded default catalog is invalid: " + err.Error())
	}
	return c
}

// Load returns the default catalog extended with each file in paths, in
// order. User entries must use ids from MinUserID up and must not repeat an
// id or a path already defined; every mistake is reported with file and line.
func Load(paths ...string) (*Catalog, error) {
	c := Default()
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("load catalog: %w", err)
		}
		if c, err = c.Extend(p, data); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// Extend returns a new catalog with the entries of the catalog file data
// (named name in errors) added to c. c is not changed.
func (c *Catalog) Extend(name string, data []byte) (*Catalog, error) {
	return parse(name, data, c, MinUserID, ^uint32(0))
}

// Parse builds a catalog from one file alone, without the default entries.
// Any id from 1 up is accepted. Tools that own a complete catalog use it.
func Parse(name string, data []byte) (*Catalog, error) {
	return parse(name, data, &Catalog{}, 1, ^uint32(0))
}

// Len returns the number of entries.
func (c *Catalog) Len() int { return len(c.entries) }

// Entries returns the entries sorted by ID. The slice is shared: do not modify it.
func (c *Catalog) Entries() []Entry { return c.entries }

// ByID returns the entry with the given id.
func (c *Catalog) ByID(id uint32) (*Entry, bool) {
	i, ok := c.byID[id]
	if !ok {
		return nil, false
	}
	return &c.entries[i], true
}

// ByPath returns the entry with the given VSS-style path.
func (c *Catalog) ByPath(path string) (*Entry, bool) {
	i, ok := c.byPath[path]
	if !ok {
		return nil, false
	}
	return &c.entries[i], true
}

// build returns a catalog of base's entries plus add, indexed.
func build(base *Catalog, add []Entry, retired map[uint32]string) *Catalog {
	n := &Catalog{
		entries: make([]Entry, 0, len(base.entries)+len(add)),
		byID:    make(map[uint32]int32, len(base.entries)+len(add)),
		byPath:  make(map[string]int32, len(base.entries)+len(add)),
		retired: make(map[uint32]string, len(base.retired)+len(retired)),
	}
	n.entries = append(append(n.entries, base.entries...), add...)
	sort.Slice(n.entries, func(i, j int) bool { return n.entries[i].ID < n.entries[j].ID })
	for i := range n.entries {
		n.byID[n.entries[i].ID] = int32(i)
		n.byPath[n.entries[i].Path] = int32(i)
	}
	for id, at := range base.retired {
		n.retired[id] = at
	}
	for id, at := range retired {
		n.retired[id] = at
	}
	return n
}
