package cli

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"
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
		return nil, fmt.Errorf("%s:%d: config must be a mapping of flag names to values", path, doc.Content[0].Line)
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
// vehicle leaves.
func (c *config) check(cmd *cobra.Command) error {
	if c.root == nil {
		return nil
	}
	return c.checkNode(cmd.Root(), c.root)
}

func (c *config) checkNode(cmd *cobra.Command, m *yaml.Node) error {
	var errs []error
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		if v.Kind == yaml.MappingNode {
			sub := findSub(cmd, k.Value)
			if sub == nil {
				errs = append(errs, fmt.Errorf("%s:%d: %q is not a subcommand of %s", c.path, k.Line, k.Value, cmd.CommandPath()))
				continue
			}
			errs = append(errs, c.checkNode(sub, v))
			continue
		}
		if !hasFlag(cmd, k.Value) {
			errs = append(errs, fmt.Errorf("%s:%d: unknown setting %q (no flag of that name under %s)", c.path, k.Line, k.Value, cmd.CommandPath()))
		}
		if v.Kind == yaml.SequenceNode {
			for _, e := range v.Content {
				if e.Kind != yaml.ScalarNode {
					errs = append(errs, fmt.Errorf("%s:%d: %s: list items must be plain values", c.path, e.Line, k.Value))
				}
			}
		} else if v.Kind != yaml.ScalarNode {
			errs = append(errs, fmt.Errorf("%s:%d: %s: want a value or a list", c.path, v.Line, k.Value))
		}
	}
	return errors.Join(errs...)
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
