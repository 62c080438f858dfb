package dbc

import (
	"fmt"
	"math"

	"gopkg.in/yaml.v3"

	"github.com/kanal-dev/kanal/catalog"
)

// transform reads the transform block and checks that what the signal can
// carry fits the catalog entry's type. sig and e are nil when the rule has
// already failed to resolve them; the block's own mistakes are still reported.
func (l *mappingLoader) transform(n, tx *yaml.Node, r *Rule, sig *Signal, e *catalog.Entry) {
	var mathNode, scaleNode, offsetNode, mapNode *yaml.Node
	if tx != nil {
		if tx.Kind != yaml.MappingNode {
			l.errs.Addf(tx, "transform: want {math: ...}, {scale: ..., offset: ...}, {round: true} or {mapping: [...]}")
			return
		}
		l.errs.Pairs(tx, mappingTxFields, func(key string, k, v *yaml.Node) {
			switch key {
			case "math":
				mathNode = v
				var f string
				if l.errs.Scalar(v, "math", &f) {
					scale, offset, err := parseLinear(f)
					if err != nil {
						l.errs.Addf(v, "math %q: %v", f, err)
					}
					r.Scale, r.Offset = scale, offset
				}
			case "scale":
				scaleNode = v
				if l.errs.Scalar(v, "scale", &r.Scale) && (r.Scale == 0 || !finite(r.Scale)) {
					l.errs.Addf(v, "scale %v: want a finite, non-zero number", r.Scale)
				}
			case "offset":
				offsetNode = v
				if l.errs.Scalar(v, "offset", &r.Offset) && !finite(r.Offset) {
					l.errs.Addf(v, "offset %v: want a finite number", r.Offset)
				}
			case "round":
				l.errs.Scalar(v, "round", &r.Round)
			case "mapping":
				mapNode = v
			}
		})
		switch {
		case mathNode != nil && (scaleNode != nil || offsetNode != nil):
			l.errs.Addf(mathNode, "use either math or scale/offset, not both")
		case mapNode != nil && (mathNode != nil || scaleNode != nil || offsetNode != nil || r.Round):
			l.errs.Addf(mapNode, "a value mapping replaces math, scale, offset and round: use it alone")
		}
	}
	if mapNode != nil {
		l.valueMap(mapNode, r, sig, e)
		return
	}
	if sig == nil || e == nil {
		return
	}
	l.checkLinear(n, r, sig, e)
}

func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }

// rawRange returns the smallest and largest raw value of an integer signal.
func rawRange(s *Signal) (lo, hi float64) {
	n := s.Length
	if n <= 0 || n > 64 {
		return 0, 0
	}
	if s.Signed {
		return -math.Ldexp(1, n-1), math.Ldexp(1, n-1) - 1
	}
	return 0, math.Ldexp(1, n) - 1
}

// physRange returns the range a signal's physical values span: the DBC's
// [min|max] when it gives one and strict is false, else what the bits allow.
// Booleans and enums are checked strictly, on the bits: an undeclared raw
// value still arrives on the bus, and it must still mean something.
func physRange(s *Signal, strict bool) (lo, hi float64) {
	if s.HasRange() && !strict {
		return min(s.Min, s.Max), max(s.Min, s.Max)
	}
	if s.Type != Integer {
		return math.Inf(-1), math.Inf(1)
	}
	rlo, rhi := rawRange(s)
	a, b := rlo*s.Factor+s.Offset, rhi*s.Factor+s.Offset
	return min(a, b), max(a, b)
}

// checkLinear checks a signal without value map against the entry's type:
// its whole range must fit, and an integer type needs integer values (or
// round: true).
func (l *mappingLoader) checkLinear(n *yaml.Node, r *Rule, sig *Signal, e *catalog.Entry) {
	strict := e.Type == catalog.Bool || e.Type == catalog.Enum
	plo, phi := physRange(sig, strict)
	a, b := plo*r.Scale+r.Offset, phi*r.Scale+r.Offset
	lo, hi := min(a, b), max(a, b)
	tlo, thi := e.Type.Range()
	if e.Type == catalog.Enum {
		thi = float64(len(e.Allowed) - 1)
	}
	name := fmt.Sprintf("signal %s.%s", sig.Message.Name, sig.Name)
	switch {
	case strict && (lo < tlo || hi > thi):
		l.errs.Addf(n, "%s spans %s, which does not fit %s %s (%g–%g): map its values with transform.mapping",
			name, span(sig, lo, hi), e.Type, e.Path, tlo, thi)
		return
	case lo < tlo || hi > thi:
		l.errs.Addf(n, "%s spans %g–%g, outside the range of %s (%s): narrow it with a transform or pick a wider type",
			name, lo, hi, e.Type, e.Path)
		return
	}
	if !e.Type.IsInteger() || r.Round {
		return
	}
	// Integer values through a float transform pick up noise (0.1 × 1000 is
	// 100.00000000000001): round them. The check below makes sure rounding
	// only removes that noise.
	r.Round = true
	if sig.Type != Integer {
		l.errs.Addf(n, "%s is a float, %s is %s: add transform: {round: true} or a value mapping", name, e.Path, e.Type)
		return
	}
	scale, offset := sig.Factor*r.Scale, sig.Offset*r.Scale+r.Offset
	if !nearInteger(scale) || !nearInteger(offset) {
		l.errs.Addf(n, "%s gives fractional values (×%g %+g) but %s is %s: add transform: {round: true} or a value mapping",
			name, scale, offset, e.Path, e.Type)
	}
}

// nearInteger accepts float noise (0.1 × 1000) but not real fractions.
func nearInteger(f float64) bool {
	return math.Abs(f-math.Round(f)) <= 1e-9*math.Max(1, math.Abs(f))
}

func span(s *Signal, lo, hi float64) string {
	if s.Type == Integer {
		return fmt.Sprintf("%g–%g (%d bits)", lo, hi, s.Length)
	}
	return "any float"
}

// valueMap reads transform.mapping: a list of {from, to}. from is a raw
// value of the signal or one of its VAL_ labels; to is a catalog value:
// true/false, an enum label, or a number that fits the entry.
func (l *mappingLoader) valueMap(v *yaml.Node, r *Rule, sig *Signal, e *catalog.Entry) {
	if v.Kind != yaml.SequenceNode || len(v.Content) == 0 {
		l.errs.Addf(v, "mapping: want a non-empty list of {from: ..., to: ...}")
		return
	}
	if sig != nil && sig.Type != Integer {
		l.errs.Addf(v, "mapping: signal %s.%s is a float; value mappings need an integer signal", sig.Message.Name, sig.Name)
		sig = nil
	}
	r.ValueMap = make(map[int64]float64, len(v.Content))
	fromLine := map[int64]int{}
	for _, item := range v.Content {
		if item.Kind != yaml.MappingNode {
			l.errs.Addf(item, "mapping: want {from: ..., to: ...}")
			continue
		}
		var from, to *yaml.Node
		l.errs.Pairs(item, mappingMapFields, func(key string, k, val *yaml.Node) {
			if key == "from" {
				from = val
			} else {
				to = val
			}
		})
		if from == nil || to == nil {
			l.errs.Addf(item, "mapping: want both from and to")
			continue
		}
		raw, okFrom := l.mapFrom(from, sig)
		val, okTo := l.mapTo(to, e)
		if !okFrom || !okTo {
			continue
		}
		if line, dup := fromLine[raw]; dup {
			l.errs.Addf(from, "mapping: raw value %d is already mapped at line %d", raw, line)
			continue
		}
		fromLine[raw] = from.Line
		r.ValueMap[raw] = val
	}
}

// mapFrom resolves a from: a raw integer, or a VAL_ label of the signal.
func (l *mappingLoader) mapFrom(n *yaml.Node, sig *Signal) (int64, bool) {
	if n.Kind != yaml.ScalarNode {
		l.errs.Addf(n, "from: want a raw value or a value label")
		return 0, false
	}
	if n.Tag == "!!int" {
		var raw int64
		if !l.errs.Scalar(n, "from", &raw) {
			return 0, false
		}
		if sig != nil {
			if lo, hi := rawRange(sig); float64(raw) < lo || float64(raw) > hi {
				l.errs.Addf(n, "from: raw value %d is outside %s.%s (%g–%g, %d bits)", raw, sig.Message.Name, sig.Name, lo, hi, sig.Length)
				return 0, false
			}
		}
		return raw, true
	}
	if sig == nil {
		return 0, true
	}
	for _, lb := range sig.Labels {
		if lb.Text == n.Value {
			return lb.Value, true
		}
	}
	l.errs.Addf(n, "from: %q is not a value label of %s.%s (%s)%s", n.Value, sig.Message.Name, sig.Name, sig.Pos, labelList(sig))
	return 0, false
}

func labelList(s *Signal) string {
	if len(s.Labels) == 0 {
		return "; it has no VAL_ table, use raw numbers"
	}
	out := "; labels:"
	for _, lb := range s.Labels {
		out += fmt.Sprintf(" %d=%q", lb.Value, lb.Text)
	}
	return out
}

// mapTo resolves a to against the catalog entry.
func (l *mappingLoader) mapTo(n *yaml.Node, e *catalog.Entry) (float64, bool) {
	if n.Kind != yaml.ScalarNode {
		l.errs.Addf(n, "to: want a single value")
		return 0, false
	}
	if e == nil {
		return 0, true
	}
	switch {
	case e.Type == catalog.Bool:
		var b bool
		if n.Tag != "!!bool" || n.Decode(&b) != nil {
			l.errs.Addf(n, "to: %s is boolean: want true or false, not %q", e.Path, n.Value)
			return 0, false
		}
		if b {
			return 1, true
		}
		return 0, true
	case e.Type == catalog.Enum:
		if idx, ok := e.Index(n.Value); ok {
			return idx, true
		}
		l.errs.Addf(n, "to: %q is not one of %s's values %v", n.Value, e.Path, e.Allowed)
		return 0, false
	}
	var f float64
	if n.Tag != "!!int" && n.Tag != "!!float" || n.Decode(&f) != nil {
		l.errs.Addf(n, "to: %s is %s: want a number, not %q", e.Path, e.Type, n.Value)
		return 0, false
	}
	if lo, hi := e.Type.Range(); f < lo || f > hi || e.Type.IsInteger() && f != math.Trunc(f) {
		l.errs.Addf(n, "to: %v does not fit %s (%s)", f, e.Path, e.Type)
		return 0, false
	}
	return f, true
}
