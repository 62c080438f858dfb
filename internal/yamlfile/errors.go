package yamlfile

import (
	"errors"
	"fmt"
	"slices"
	"sort"

	"gopkg.in/yaml.v3"
)

// Errors collects the mistakes of one file while its YAML tree is walked.
// It is not itself an error: Err returns what was collected. The zero value
// with File set is ready to use.
type Errors struct {
	File string
	errs []*Error
}

// Addf records a mistake at node n, with its line and column (or at line 1
// when n is nil).
func (c *Errors) Addf(n *yaml.Node, format string, args ...any) {
	e := &Error{File: c.File, Line: 1, Err: fmt.Errorf(format, args...)}
	if n != nil {
		e.Line, e.Column = n.Line, n.Column
	}
	c.errs = append(c.errs, e)
}

// AddLinef records a mistake at a line, without a column, for files whose
// messages name lines only (the agent's config).
func (c *Errors) AddLinef(line int, format string, args ...any) {
	c.errs = append(c.errs, &Error{File: c.File, Line: line, Err: fmt.Errorf(format, args...)})
}

// Len returns the number of mistakes recorded.
func (c *Errors) Len() int { return len(c.errs) }

// Err returns the recorded mistakes in file order (by line, then column;
// mistakes at one place in the order they were recorded), joined, or nil.
func (c *Errors) Err() error {
	sort.SliceStable(c.errs, func(i, j int) bool {
		a, b := c.errs[i], c.errs[j]
		return a.Line < b.Line || a.Line == b.Line && a.Column < b.Column
	})
	errs := make([]error, len(c.errs))
	for i, e := range c.errs {
		errs[i] = e
	}
	return errors.Join(errs...)
}

// Pairs calls fn for each key/value of mapping node m, in file order. It
// reports a duplicate key, a non-scalar key and a key not in allowed (when
// allowed is non-nil), and skips those pairs.
func (c *Errors) Pairs(m *yaml.Node, allowed []string, fn func(key string, k, v *yaml.Node)) {
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
		if allowed != nil && !slices.Contains(allowed, k.Value) {
			c.Addf(k, "unknown field %q (want one of %v)", k.Value, allowed)
			continue
		}
		fn(k.Value, k, v)
	}
}

// Scalar decodes the scalar node n into out (a *string, *float64, *uint64,
// *int64 or *bool) and reports what is wrong with it otherwise; what names
// the field in the message. A *string accepts any plain scalar (a number
// or boolean as written), but no null, list or mapping.
func (c *Errors) Scalar(n *yaml.Node, what string, out any) bool {
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
