package yamlfile

import (
	"bytes"
	"errors"
	"io"
	"regexp"

	"gopkg.in/yaml.v3"
)

var yamlLine = regexp.MustCompile(`^(?:yaml: )?line (\d+): `)

// Decode reads a config file into v, a struct with yaml tags: unknown keys
// and values of the wrong type are errors, every one of them, each as
// "name:line: ...". An empty file leaves v as it is. Anchors and aliases
// are refused, as Parse refuses them.
func Decode(name string, data []byte, v any) error {
	if len(bytes.TrimSpace(data)) > 0 {
		var doc yaml.Node
		if err := yaml.Unmarshal(data, &doc); err != nil {
			return errors.New(name + ":" + yamlLine.ReplaceAllString(err.Error(), "$1: "))
		}
		if len(doc.Content) > 0 {
			if n := findAlias(doc.Content[0], 0); n != nil {
				return &Error{File: name, Line: n.Line, Column: n.Column, Err: errors.New("anchors and aliases are not supported")}
			}
		}
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	err := dec.Decode(v)
	if err == nil || errors.Is(err, io.EOF) {
		return nil
	}
	var te *yaml.TypeError
	if errors.As(err, &te) {
		errs := make([]error, 0, len(te.Errors))
		for _, e := range te.Errors {
			errs = append(errs, errors.New(name+":"+yamlLine.ReplaceAllString(e, "$1: ")))
		}
		return errors.Join(errs...)
	}
	return errors.New(name + ":" + yamlLine.ReplaceAllString(err.Error(), "$1: "))
}
