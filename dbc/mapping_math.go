package dbc

import (
	"errors"
	"fmt"
	"math"
	"strconv"
)

// A mapping's `math` transform is a formula in x, the signal's physical
// value, such as "x * 1000" or "(x - 32) / 1.8". It is parsed once, when the
// mapping loads, into the line scale·x + offset; a formula that is not linear
// in x (x*x, 1/x) is rejected. Nothing is evaluated at decode time beyond one
// multiply and one add, nothing runs that the file chose, and the type check
// of the loader knows the exact range of the result. Kuksa's dbc2vss accepts
// any py_expression_eval formula; Kanal accepts its linear subset.
//
// Grammar: expr = term {("+"|"-") term}; term = unary {("*"|"/") unary};
// unary = ("-"|"+") unary | primary; primary = number | "x" | "(" expr ")".

// maxMathLen and maxMathDepth bound the work a formula can cause.
const (
	maxMathLen   = 256
	maxMathDepth = 32
)

// affine is a·x + b.
type affine struct{ a, b float64 }

type mathParser struct {
	s     string
	i     int
	depth int
}

// parseLinear parses a math transform into scale and offset.
func parseLinear(s string) (scale, offset float64, err error) {
	if len(s) > maxMathLen {
		return 0, 0, fmt.Errorf("formula longer than %d characters", maxMathLen)
	}
	p := &mathParser{s: s}
	v, err := p.expr()
	if err != nil {
		return 0, 0, err
	}
	p.space()
	if p.i < len(p.s) {
		return 0, 0, fmt.Errorf("unexpected %q at column %d", p.s[p.i:], p.i+1)
	}
	switch {
	case math.IsNaN(v.a) || math.IsInf(v.a, 0) || math.IsNaN(v.b) || math.IsInf(v.b, 0):
		return 0, 0, errors.New("formula overflows")
	case v.a == 0:
		return 0, 0, errors.New("formula does not depend on x")
	}
	return v.a, v.b, nil
}

func (p *mathParser) space() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\t') {
		p.i++
	}
}

func (p *mathParser) peek() byte {
	p.space()
	if p.i < len(p.s) {
		return p.s[p.i]
	}
	return 0
}

func (p *mathParser) expr() (affine, error) {
	v, err := p.term()
	for err == nil {
		op := p.peek()
		if op != '+' && op != '-' {
			break
		}
		p.i++
		var r affine
		if r, err = p.term(); err != nil {
			break
		}
		if op == '-' {
			r = affine{-r.a, -r.b}
		}
		v = affine{v.a + r.a, v.b + r.b}
	}
	return v, err
}

func (p *mathParser) term() (affine, error) {
	v, err := p.unary()
	for err == nil {
		op := p.peek()
		if op != '*' && op != '/' {
			break
		}
		p.i++
		var r affine
		if r, err = p.unary(); err != nil {
			break
		}
		switch {
		case op == '*' && v.a != 0 && r.a != 0:
			return v, errors.New("formula is not linear in x (x times x)")
		case op == '*' && v.a != 0:
			v = affine{v.a * r.b, v.b * r.b}
		case op == '*':
			v = affine{r.a * v.b, r.b * v.b}
		case r.a != 0:
			return v, errors.New("formula is not linear in x (division by x)")
		case r.b == 0:
			return v, errors.New("division by zero")
		default:
			v = affine{v.a / r.b, v.b / r.b}
		}
	}
	return v, err
}

func (p *mathParser) unary() (affine, error) {
	p.depth++
	defer func() { p.depth-- }()
	if p.depth > maxMathDepth {
		return affine{}, errors.New("formula nested too deeply")
	}
	switch p.peek() {
	case '-':
		p.i++
		v, err := p.unary()
		return affine{-v.a, -v.b}, err
	case '+':
		p.i++
		return p.unary()
	}
	return p.primary()
}

func (p *mathParser) primary() (affine, error) {
	c := p.peek()
	switch {
	case c == 'x':
		p.i++
		return affine{a: 1}, nil
	case c == '(':
		p.i++
		v, err := p.expr()
		if err != nil {
			return v, err
		}
		if p.peek() != ')' {
			return v, fmt.Errorf("missing ) at column %d", p.i+1)
		}
		p.i++
		return v, nil
	case c >= '0' && c <= '9' || c == '.':
		start := p.i
		for p.i < len(p.s) && (isNumByte(p.s[p.i]) || (p.s[p.i] == '+' || p.s[p.i] == '-') && (p.s[p.i-1] == 'e' || p.s[p.i-1] == 'E')) {
			p.i++
		}
		f, err := strconv.ParseFloat(p.s[start:p.i], 64)
		if err != nil {
			return affine{}, fmt.Errorf("bad number %q", p.s[start:p.i])
		}
		return affine{b: f}, nil
	case c == 0:
		return affine{}, errors.New("formula ends early")
	}
	return affine{}, fmt.Errorf("unexpected %q at column %d (want a number, x or parentheses)", c, p.i+1)
}

func isNumByte(c byte) bool { return c >= '0' && c <= '9' || c == '.' || c == 'e' || c == 'E' }
