package yamlfile

import "fmt"

// Error is a mistake in a YAML file, located by file, line and column.
// Loaders collect every Error they find (see Errors) and return them joined
// with errors.Join, so one run shows all mistakes.
type Error struct {
	File   string
	Line   int
	Column int // 0 when only the line is known; then it is not printed
	Err    error
}

// Error returns "file:line:column: reason", or "file:line: reason" without
// a column.
func (e *Error) Error() string {
	if e.Column > 0 {
		return fmt.Sprintf("%s:%d:%d: %v", e.File, e.Line, e.Column, e.Err)
	}
	return fmt.Sprintf("%s:%d: %v", e.File, e.Line, e.Err)
}

// Unwrap returns the reason, so errors.Is and errors.As see through the
// position.
func (e *Error) Unwrap() error { return e.Err }
