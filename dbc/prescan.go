package dbc

import (
	"bytes"
	"fmt"
	"strconv"
)

// The pre-scan reads what go.einride.tech/can's DBC parser (v0.17) cannot and
// hides it from that parser without moving a single line, so every position
// einride reports is still a position in the user's file:
//
//   - multiplexer indicators: einride accepts only `M` and `m<N>`; it fails on
//     `m<N>M` (extended multiplexing) and on a bare `m` (vw_pq.dbc has one).
//     The pre-scan records the indicator of every SG_ line and blanks it, so
//     einride sees a plain signal; the multiplexer tree is built here.
//   - SG_MUL_VAL_ statements: einride skips unknown statements with a
//     discardLine that reads two tokens per step and can miss the newline,
//     swallowing the next line. The pre-scan parses them and blanks them.
//   - the NS_ block, other statements einride does not know (SIG_GROUP_,
//     BA_DEF_REL_, …): blanked for the same reason.
//
// It also records the line of every BO_ and SG_ so Parse can prove that
// einride read each of them.

// muxRange is an inclusive range of multiplexer values from SG_MUL_VAL_.
type muxRange struct{ lo, hi uint64 }

// mulVal is one SG_MUL_VAL_ statement: signal is present when multiplexer has
// a value in ranges.
type mulVal struct {
	line        int
	msgID       uint32 // as in the DBC, with the 0x80000000 extended flag
	signal, mux string
	ranges      []muxRange
}

type prescan struct {
	markers  map[int]string // line of an SG_ → its multiplexer indicator ("" for none)
	mulVals  []mulVal
	boLines  []int
	sgLines  []int
	problems []Problem
}

// dbcKeywords are the statement keywords einride parses itself.
var dbcKeywords = map[string]bool{
	"VERSION": true, "NS_": true, "BS_": true, "BU_": true, "BO_": true, "SG_": true,
	"EV_": true, "CM_": true, "BA_DEF_": true, "BA_DEF_DEF_": true, "BA_": true,
	"VAL_": true, "VAL_TABLE_": true, "SIG_VALTYPE_": true, "BO_TX_BU_": true,
	"ENVVAR_DATA_": true,
}

func isKeyword(w string) bool { return dbcKeywords[w] || einrideUnknown[w] || w == "SG_MUL_VAL_" }

// einrideUnknown lists statements einride parses as UnknownDef (and so skips
// with its fragile discardLine); they carry nothing the decoder needs.
var einrideUnknown = map[string]bool{
	"NS_DESC_": true, "CAT_DEF_": true, "CAT_": true, "FILTER": true,
	"EV_DATA_": true, "SGTYPE_": true, "SGTYPE_VAL_": true, "BA_DEF_SGTYPE_": true,
	"BA_SGTYPE_": true, "SIG_TYPE_REF_": true, "SIG_GROUP_": true,
	"SIGTYPE_VALTYPE_": true, "BA_DEF_REL_": true, "BA_REL_": true,
	"BA_DEF_DEF_REL_": true, "BU_SG_REL_": true, "BU_EV_REL_": true, "BU_BO_REL_": true,
}

// prescanText scans text and returns what it found and a copy of text in
// which the parts einride cannot read are replaced by spaces (newlines kept).
func prescanText(file string, text []byte) (*prescan, []byte) {
	ps := &prescan{markers: map[int]string{}}
	out := bytes.Clone(text)
	inString := false
	nsBlock, buBlock := false, false
	lineNo := 1 // line of out[pos]
	for pos := 0; pos < len(out); {
		end := bytes.IndexByte(out[pos:], '\n')
		if end < 0 {
			end = len(out)
		} else {
			end += pos
		}
		line := out[pos:end]
		if !inString {
			indented := len(line) > 0 && (line[0] == ' ' || line[0] == '\t')
			word, wstart := firstWord(line)
			switch {
			case (nsBlock || buBlock && !isKeyword(word)) && indented:
				// NS_ symbols and node names on lines of their own:
				// einride reads neither reliably, and neither matters here
				blank(line)
				pos, lineNo = end+1, lineNo+1
				continue
			case word == "NS_":
				nsBlock = true
			case word == "BU_":
				buBlock = true
			case word == "SG_":
				ps.sgLines = append(ps.sgLines, lineNo)
				ps.signalLine(line, wstart+3, lineNo)
			case word == "BO_":
				ps.boLines = append(ps.boLines, lineNo)
			case word == "SG_MUL_VAL_" || (einrideUnknown[word] && !nsBlock):
				stmtEnd := statementEnd(out, pos+wstart)
				if word == "SG_MUL_VAL_" {
					ps.mulValStatement(file, out[pos+wstart:stmtEnd], lineNo)
				}
				lineNo += bytes.Count(out[pos:stmtEnd], []byte{'\n'})
				blank(out[pos:stmtEnd])
				pos = stmtEnd // the rest of the line is scanned as a line of its own
				continue
			}
			if word != "" && !indented && word != "NS_" && word != "BU_" {
				nsBlock, buBlock = false, false
			}
		}
		inString = scanQuotes(line, inString)
		pos, lineNo = end+1, lineNo+1
	}
	return ps, out
}

// firstWord returns the first whitespace-delimited word of line and where it starts.
func firstWord(line []byte) (string, int) {
	i := 0
	for i < len(line) && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r') {
		i++
	}
	j := i
	for j < len(line) && isWordByte(line[j]) {
		j++
	}
	return string(line[i:j]), i
}

func isWordByte(c byte) bool {
	return c == '_' || c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z'
}

// scanQuotes reports whether a string is still open at the end of line.
// `\"` inside a string does not close it, as in einride's and cantools' lexers.
func scanQuotes(line []byte, in bool) bool {
	for i := 0; i < len(line); i++ {
		switch {
		case line[i] == '\\' && in && i+1 < len(line) && line[i+1] == '"':
			i++
		case line[i] == '"':
			in = !in
		}
	}
	return in
}

// statementEnd returns the index just past the ';' that ends the statement
// starting at start, ignoring ';' in strings; without one it is the end of
// the line.
func statementEnd(text []byte, start int) int {
	in := false
	for i := start; i < len(text); i++ {
		switch c := text[i]; {
		case c == '\\' && in && i+1 < len(text) && text[i+1] == '"':
			i++
		case c == '"':
			in = !in
		case c == ';' && !in:
			return i + 1
		}
	}
	if nl := bytes.IndexByte(text[start:], '\n'); nl >= 0 {
		return start + nl
	}
	return len(text)
}

func blank(b []byte) {
	for i, c := range b {
		if c != '\n' && c != '\r' {
			b[i] = ' '
		}
	}
}

// signalLine records and blanks the multiplexer indicator of
// `SG_ name [indicator] : ...`; i is just past "SG_".
func (ps *prescan) signalLine(line []byte, i, lineNo int) {
	i = skipSpace(line, i)
	j := i
	for j < len(line) && isWordByte(line[j]) {
		j++
	}
	if j == i {
		return // einride reports the syntax error
	}
	k := skipSpace(line, j)
	m := k
	for m < len(line) && isWordByte(line[m]) {
		m++
	}
	if m == k || skipSpace(line, m) >= len(line) || line[skipSpace(line, m)] != ':' {
		return // no indicator, or not a signal einride will accept anyway
	}
	ps.markers[lineNo] = string(line[k:m])
	blank(line[k:m])
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\r') {
		i++
	}
	return i
}

// mulValStatement parses `SG_MUL_VAL_ <msg id> <signal> <multiplexer> <lo>-<hi>[, <lo>-<hi>]* ;`.
func (ps *prescan) mulValStatement(file string, stmt []byte, lineNo int) {
	toks := mulValTokens(stmt)
	bad := func(why string) {
		ps.problems = append(ps.problems, Problem{Pos: Pos{File: file, Line: lineNo}, Severity: Error,
			Msg: "SG_MUL_VAL_: " + why})
	}
	// toks: SG_MUL_VAL_ id signal mux (lo - hi ,)* ;
	if len(toks) < 5 || toks[len(toks)-1] != ";" {
		bad("want `SG_MUL_VAL_ <id> <signal> <multiplexer> <lo>-<hi>, ... ;`")
		return
	}
	id, err := strconv.ParseUint(toks[1], 10, 32)
	if err != nil {
		bad(fmt.Sprintf("bad message id %q", toks[1]))
		return
	}
	mv := mulVal{line: lineNo, msgID: uint32(id), signal: toks[2], mux: toks[3]}
	rest := toks[4 : len(toks)-1]
	for len(rest) > 0 {
		if len(rest) < 3 || rest[1] != "-" {
			bad("want ranges `<lo>-<hi>` separated by commas")
			return
		}
		lo, err1 := strconv.ParseUint(rest[0], 10, 64)
		hi, err2 := strconv.ParseUint(rest[2], 10, 64)
		if err1 != nil || err2 != nil || hi < lo {
			bad(fmt.Sprintf("bad range %s-%s", rest[0], rest[2]))
			return
		}
		mv.ranges = append(mv.ranges, muxRange{lo, hi})
		rest = rest[3:]
		if len(rest) > 0 {
			if rest[0] != "," {
				bad("want ',' between ranges")
				return
			}
			rest = rest[1:]
		}
	}
	if len(mv.ranges) == 0 {
		bad("no ranges")
		return
	}
	ps.mulVals = append(ps.mulVals, mv)
}

// mulValTokens splits an SG_MUL_VAL_ statement into words and the
// punctuation '-', ',' and ';'.
func mulValTokens(b []byte) []string {
	var toks []string
	for i := 0; i < len(b); {
		c := b[i]
		switch {
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
			i++
		case isWordByte(c):
			j := i
			for j < len(b) && isWordByte(b[j]) {
				j++
			}
			toks = append(toks, string(b[i:j]))
			i = j
		default:
			toks = append(toks, string(c))
			i++
		}
	}
	return toks
}
