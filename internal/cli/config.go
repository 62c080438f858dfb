package cli

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"

	"github.com/kanal-dev/kanal/internal/yamlfile"
)

// config is a loaded config file: a YAML mapping of flag names to values,
// with nested mappings for subcommands.
type config struct {
	path string
	root *yaml.Node
}

func loadConfig(path string) (*config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return parseConfig(path, data)
}

func parseConfig(path string, data []byte) (*config, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	c := &config{path: path}
	if len(doc.Content) == 0 {
		return c, nil // empty file
	}
	if doc.Content[0].Kind != yaml.MappingNode {
		return nil, &yamlfile.Error{File: path, Line: doc.Content[0].Line,
			Err: errors.New("config must be a mapping of flag names to values")}
	}
	c.root = doc.Content[0]
	return c, nil
}

// lookup returns the values for flag name as seen by cmd: the innermost
// section on cmd's path that sets it wins.
func (c *config) lookup(cmd *cobra.Command, name string) ([]string, int, bool) {
	if c.root == nil {
		return nil, 0, false
	}
	var path []string
	for p := cmd; p.HasParent(); p = p.Parent() {
		path = append([]string{p.Name()}, path...)
	}
	var (
		vals  []string
		line  int
		found bool
	)
	node := c.root
	for depth := 0; node != nil; depth++ {
		if v := mapGet(node, name); v != nil && v.Kind != yaml.MappingNode {
			vals, line, found = scalarValues(v), v.Line, true
		}
		if depth == len(path) {
			break
		}
		next := mapGet(node, path[depth])
		if next == nil || next.Kind != yaml.MappingNode {
			break
		}
		node = next
	}
	return vals, line, found
}

func mapGet(m *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

func scalarValues(v *yaml.Node) []string {
	if v.Kind == yaml.SequenceNode {
		out := make([]string, 0, len(v.Content))
		for _, e := range v.Content {
			out = append(out, e.Value)
		}
		return out
	}
	return []string{v.Value}
}

// check reports every key of the file that names neither a flag nor a
// subcommand, with its line, so a typo in the workshop is caught before the
// vehicle leaves. Messages name the line only, as they always have.
func (c *config) check(cmd *cobra.Command) error {
	if c.root == nil {
		return nil
	}
	errs := &yamlfile.Errors{File: c.path}
	c.checkNode(errs, cmd.Root(), c.root)
	return errs.Err()
}

func (c *config) checkNode(errs *yamlfile.Errors, cmd *cobra.Command, m *yaml.Node) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		if v.Kind == yaml.MappingNode {
			sub := findSub(cmd, k.Value)
			if sub == nil {
				errs.AddLinef(k.Line, "%q is not a subcommand of %s", k.Value, cmd.CommandPath())
				continue
			}
			c.checkNode(errs, sub, v)
			continue
		}
		if !hasFlag(cmd, k.Value) {
			errs.AddLinef(k.Line, "unknown setting %q (no flag of that name under %s)", k.Value, cmd.CommandPath())
		}
		if v.Kind == yaml.SequenceNode {
			for _, e := range v.Content {
				if e.Kind != yaml.ScalarNode {
					errs.AddLinef(e.Line, "%s: list items must be plain values", k.Value)
				}
			}
		} else if v.Kind != yaml.ScalarNode {
			errs.AddLinef(v.Line, "%s: want a value or a list", k.Value)
		}
	}
}

func findSub(cmd *cobra.Command, name string) *cobra.Command {
	for _, s := range cmd.Commands() {
		if s.Name() == name {
			return s
		}
	}
	return nil
}

// hasFlag reports whether cmd or any command below it has the flag.
func hasFlag(cmd *cobra.Command, name string) bool {
	if cmd.Flags().Lookup(name) != nil || cmd.PersistentFlags().Lookup(name) != nil || cmd.InheritedFlags().Lookup(name) != nil {
		return true
	}
	for _, s := range cmd.Commands() {
		if hasFlag(s, name) {
			return true
		}
	}
	return false
}
