package dbc

import "fmt"

// Pos is a line in a DBC file. Every message, signal and problem carries one,
// so a mapping or a lint finding can point the user at the exact line.
type Pos struct {
	File string
	Line int
}

func (p Pos) String() string { return fmt.Sprintf("%s:%d", p.File, p.Line) }

// Severity grades a Problem: an Error makes `dbc lint` fail, a Warning does not.
type Severity uint8

const (
	Warning Severity = iota
	Error
)

// Problem is a mistake in a DBC file that still parses: a signal outside its
// message, a broken multiplexer tree, a duplicate name. Parse collects the
// ones that change what is decoded; Lint adds the rest.
type Problem struct {
	Pos      Pos
	Severity Severity
	Msg      string
}

func (p Problem) String() string {
	if p.Severity == Warning {
		return fmt.Sprintf("%s: warning: %s", p.Pos, p.Msg)
	}
	return fmt.Sprintf("%s: %s", p.Pos, p.Msg)
}
