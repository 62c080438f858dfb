package catalog

import (
	"errors"
	"fmt"
	"sort"

	"gopkg.in/yaml.v3"
)

// FileError is a mistake in a catalog (or mapping) file, located by file,
// line and column. Loaders collect every FileError they find and return them
// joined with errors.Join, so one run shows all mistakes.
type FileError struct {
	File   string
	Line   int
	Column int
	Err    error
}

func (e *FileError) Error() string {
	if e.Column > 0 {
		return fmt.Sprintf("%s:%d:%d: %v", e.File, e.Line, e.Column, e.Err)
	}
	return fmt.Sprintf("%s:%d: %v", e.File, e.Line, e.Err)
}

func (e *FileError) Unwrap() error { return e.Err }

// NodeErrors collects FileErrors while a YAML document is walked. It is
// exported for the mapping loader in package dbc, which reports its mistakes
// the same way.
type NodeErrors struct {
	File string
	errs []error // all *FileError
}

// Addf records a mistake at node n (or at line 1 when n is nil).
func (c *NodeErrors) Addf(n *yaml.Node, format string, args ...any) {
	e := &FileError{File: c.File, Line: 1, Err: fmt.Errorf(format, args...)}
	if n != nil {
		e.Line, e.Column = n.Line, n.Column
	}
	c.errs = append(c.errs, e)
}

// Len returns the number of mistakes recorded.
func (c *NodeErrors) Len() int { return len(c.errs) }

// Err returns the recorded mistakes in file order, joined, or nil.
func (c *NodeErrors) Err() error {
	sort.SliceStable(c.errs, func(i, j int) bool {
		a, b := c.errs[i].(*FileError), c.errs[j].(*FileError)
		return a.Line < b.Line || a.Line == b.Line && a.Column < b.Column
	})
	return errors.Join(c.errs...)
}

// ParseYAML parses data into its document node and returns the top-level
// mapping. It rejects anchors and aliases, which no Kanal file needs and
// which could make a small file expand into a huge one. A syntax error
// carries the line yaml.v3 reports.
func ParseYAML(name string, data []byte) (*yaml.Node, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return nil, &FileError{File: name, Line: 1, Err: errors.New("empty file")}
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, &FileError{File: name, Line: root.Line, Column: root.Column, Err: errors.New("want a mapping at the top level")}
	}
	if n := findAlias(root, 0); n != nil {
		return nil, &FileError{File: name, Line: n.Line, Column: n.Column, Err: errors.New("anchors and aliases are not supported")}
	}
	return root, nil
}

// findAlias returns the first node that is an alias or carries an anchor.
// Depth is bounded by yaml.v3's own nesting limit.
func findAlias(n *yaml.Node, depth int) *yaml.Node {
	if n.Kind == yaml.AliasNode || n.Anchor != "" {
		return n
	}
	for _, c := range n.Content {
		if a := findAlias(c, depth+1); a != nil {
			return a
		}
	}
	return nil
}

// Pairs calls fn for each key/value of mapping node m, in file order. It
// reports a duplicate key, a non-scalar key and a key not in allowed (when
// allowed is non-nil), and skips those pairs.
func (c *NodeErrors) Pairs(m *yaml.Node, allowed []string, fn func(key string, k, v *yaml.Node)) {
	seen := make(map[string]bool, len(m.Content)/2)
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			c.Addf(k, "key must be a plain string")
			continue
		}
		if seen[k.Value] {
			c.Addf(k, "duplicate key %q", k.Value)
			continue
		}
		seen[k.Value] = true
		if allowed != nil && !contains(allowed, k.Value) {
			c.Addf(k, "unknown field %q (want one of %v)", k.Value, allowed)
			continue
		}
		fn(k.Value, k, v)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Scalar decodes the scalar node n into out (a *string, *float64, *uint64,
// *int64 or *bool) and reports what is wrong with it otherwise.
func (c *NodeErrors) Scalar(n *yaml.Node, what string, out any) bool {
	if n.Kind != yaml.ScalarNode {
		c.Addf(n, "%s: want a single value", what)
		return false
	}
	if s, ok := out.(*string); ok {
		if n.Tag != "!!str" && n.Tag != "!!int" && n.Tag != "!!float" && n.Tag != "!!bool" {
			c.Addf(n, "%s: want a string, got %s", what, n.Tag)
			return false
		}
		*s = n.Value
		return true
	}
	if err := n.Decode(out); err != nil {
		c.Addf(n, "%s: %q is not a valid %s", what, n.Value, kindName(out))
		return false
	}
	return true
}

func kindName(out any) string {
	switch out.(type) {
	case *float64:
		return "number"
	case *uint64:
		return "non-negative integer"
	case *int64:
		return "integer"
	case *bool:
		return "boolean (true or false)"
	}
	return "value"
}
