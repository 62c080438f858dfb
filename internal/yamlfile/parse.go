package yamlfile

import (
	"errors"
	"fmt"

	"gopkg.in/yaml.v3"
)

// Parse parses data into its document node and returns the top-level
// mapping; name is the file name used in errors. It rejects anchors and
// aliases, which no Kanal file needs and which could make a small file
// expand into a huge one. A syntax error carries the line yaml.v3 reports.
func Parse(name string, data []byte) (*yaml.Node, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return nil, &Error{File: name, Line: 1, Err: errors.New("empty file")}
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, &Error{File: name, Line: root.Line, Column: root.Column, Err: errors.New("want a mapping at the top level")}
	}
	if n := findAlias(root, 0); n != nil {
		return nil, &Error{File: name, Line: n.Line, Column: n.Column, Err: errors.New("anchors and aliases are not supported")}
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
