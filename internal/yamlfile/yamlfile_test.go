package yamlfile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		desc, text string
		want       string // error text, "" for success
	}{
		{"mapping", "version: 1\nsignals: []\n", ""},
		{"empty", "", "f.yaml:1: empty file"},
		{"only a comment", "# nothing\n", "f.yaml:1: empty file"},
		{"list at the top", "\n- a\n- b\n", "f.yaml:2:1: want a mapping at the top level"},
		{"scalar at the top", "hello\n", "f.yaml:1:1: want a mapping at the top level"},
		{"anchor", "a: 1\nb: &x 2\n", "f.yaml:2:4: anchors and aliases are not supported"},
		{"alias", "a: &x 1\nb: *x\n", "f.yaml:1:4: anchors and aliases are not supported"},
		{"nested anchor", "a:\n  - b: 1\n  - &y {c: 2}\n", "f.yaml:3:5: anchors and aliases are not supported"},
		{"syntax error", "a: [\n", "f.yaml: yaml: line 1:"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			root, err := Parse("f.yaml", []byte(tc.text))
			if tc.want == "" {
				if err != nil || root == nil || root.Kind != yaml.MappingNode {
					t.Fatalf("Parse = %v, %v; want a mapping", root, err)
				}
				return
			}
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Fatalf("Parse error %v, want %q", err, tc.want)
			}
			if root != nil {
				t.Errorf("Parse returned a node with its error")
			}
		})
	}
}

func TestErrorText(t *testing.T) {
	reason := errors.New("bad")
	for _, tc := range []struct {
		desc string
		err  *Error
		want string
	}{
		{"line and column", &Error{File: "a.yaml", Line: 3, Column: 7, Err: reason}, "a.yaml:3:7: bad"},
		{"line only", &Error{File: "a.yaml", Line: 3, Err: reason}, "a.yaml:3: bad"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			if got := tc.err.Error(); got != tc.want {
				t.Errorf("Error() = %q, want %q", got, tc.want)
			}
			if !errors.Is(tc.err, reason) {
				t.Errorf("errors.Is does not see the reason through %v", tc.err)
			}
		})
	}
}

// TestErrorsOrder: mistakes come out in file order whatever the order of
// the walk, and each one stays an *Error for errors.As.
func TestErrorsOrder(t *testing.T) {
	root, err := Parse("f.yaml", []byte("a: 1\nb: 2\nc: {d: 3, e: 4}\n"))
	if err != nil {
		t.Fatal(err)
	}
	errs := &Errors{File: "f.yaml"}
	if errs.Err() != nil || errs.Len() != 0 {
		t.Fatalf("empty Errors: Err() = %v, Len() = %d", errs.Err(), errs.Len())
	}
	c := root.Content[5]
	errs.Addf(c.Content[3], "e")    // 3:14
	errs.Addf(root.Content[2], "b") // 2:1
	errs.AddLinef(3, "line 3")      // 3:0
	errs.Addf(c.Content[1], "d")    // 3:8
	errs.Addf(nil, "no node")       // 1:0
	errs.AddLinef(3, "line 3 again")
	if errs.Len() != 6 {
		t.Fatalf("Len() = %d, want 6", errs.Len())
	}
	got := errs.Err()
	want := "f.yaml:1: no node\nf.yaml:2:1: b\nf.yaml:3: line 3\nf.yaml:3: line 3 again\nf.yaml:3:8: d\nf.yaml:3:14: e"
	if got == nil || got.Error() != want {
		t.Fatalf("Err() =\n%v\nwant\n%s", got, want)
	}
	var fe *Error
	if !errors.As(got, &fe) || fe.Line != 1 {
		t.Errorf("errors.As: %v, want the line-1 *Error", fe)
	}
}

func TestPairs(t *testing.T) {
	root, err := Parse("f.yaml", []byte("a: 1\nb: 2\na: 3\n[x]: 4\nzz: 5\nc: 6\n"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		desc    string
		allowed []string
		keys    string
		errs    string
	}{
		{"any key", nil, "a b zz c",
			"f.yaml:3:1: duplicate key \"a\"\nf.yaml:4:1: key must be a plain string"},
		{"allowed keys", []string{"a", "b", "c"}, "a b c",
			"f.yaml:3:1: duplicate key \"a\"\nf.yaml:4:1: key must be a plain string\nf.yaml:5:1: unknown field \"zz\" (want one of [a b c])"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			errs := &Errors{File: "f.yaml"}
			var keys []string
			errs.Pairs(root, tc.allowed, func(key string, k, v *yaml.Node) {
				if k.Value != key || v.Kind != yaml.ScalarNode {
					t.Errorf("key %q: node %q, value kind %v", key, k.Value, v.Kind)
				}
				keys = append(keys, key)
			})
			if got := strings.Join(keys, " "); got != tc.keys {
				t.Errorf("keys %q, want %q", got, tc.keys)
			}
			if err := errs.Err(); err == nil || err.Error() != tc.errs {
				t.Errorf("errors:\n%v\nwant:\n%s", err, tc.errs)
			}
		})
	}
}

func TestScalar(t *testing.T) {
	root, err := Parse("f.yaml", []byte(
		"s: text\nn: 12\nf: 1.5\nb: true\nneg: -3\nnull: ~\nlist: [1]\nword: abc\n"))
	if err != nil {
		t.Fatal(err)
	}
	node := map[string]*yaml.Node{}
	for i := 0; i+1 < len(root.Content); i += 2 {
		node[root.Content[i].Value] = root.Content[i+1]
	}
	var (
		s string
		u uint64
		i int64
		f float64
		b bool
	)
	for _, tc := range []struct {
		desc, key string
		out       any
		want      any    // the value read, when ok
		err       string // the message, when not ok
	}{
		{"string", "s", &s, "text", ""},
		{"number as string", "n", &s, "12", ""},
		{"boolean as string", "b", &s, "true", ""},
		{"uint", "n", &u, uint64(12), ""},
		{"int", "neg", &i, int64(-3), ""},
		{"float", "f", &f, 1.5, ""},
		{"int as float", "n", &f, 12.0, ""},
		{"bool", "b", &b, true, ""},
		{"null as string", "null", &s, nil, "f.yaml:6:7: x: want a string, got !!null"},
		{"list", "list", &s, nil, "f.yaml:7:7: x: want a single value"},
		{"negative uint", "neg", &u, nil, `f.yaml:5:6: x: "-3" is not a valid non-negative integer`},
		{"word as number", "word", &f, nil, `f.yaml:8:7: x: "abc" is not a valid number`},
		{"word as int", "word", &i, nil, `f.yaml:8:7: x: "abc" is not a valid integer`},
		{"word as bool", "word", &b, nil, `f.yaml:8:7: x: "abc" is not a valid boolean (true or false)`},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			errs := &Errors{File: "f.yaml"}
			ok := errs.Scalar(node[tc.key], "x", tc.out)
			if tc.err != "" {
				if ok || errs.Err() == nil || errs.Err().Error() != tc.err {
					t.Fatalf("Scalar = %v, %v; want %q", ok, errs.Err(), tc.err)
				}
				return
			}
			if !ok || errs.Len() != 0 {
				t.Fatalf("Scalar = %v, %v", ok, errs.Err())
			}
			var got any
			switch p := tc.out.(type) {
			case *string:
				got = *p
			case *uint64:
				got = *p
			case *int64:
				got = *p
			case *float64:
				got = *p
			case *bool:
				got = *p
			}
			if got != tc.want {
				t.Errorf("read %v (%T), want %v (%T)", got, got, tc.want, tc.want)
			}
		})
	}
}

// FuzzParse feeds every YAML file of the repository's test material and the
// default catalog to Parse: errors are fine; a panic, a root that is not a
// mapping, or an alias that slips through are not.
func FuzzParse(f *testing.F) {
	for _, dir := range []string{"../../catalog", "../../dbc/testdata", "../../testdata"} {
		filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() && (strings.HasSuffix(path, ".yaml") || strings.HasSuffix(path, ".yml")) {
				if data, err := os.ReadFile(path); err == nil {
					f.Add(data)
				}
			}
			return nil
		})
	}
	f.Add([]byte("a: &x 1\nb: *x\n"))
	f.Add([]byte("- 1\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		root, err := Parse("fuzz.yaml", data)
		if err != nil {
			if root != nil {
				t.Fatalf("node with error %v", err)
			}
			if !strings.HasPrefix(err.Error(), "fuzz.yaml:") {
				t.Fatalf("error %q does not name the file", err)
			}
			return
		}
		if root.Kind != yaml.MappingNode {
			t.Fatalf("root kind %v, want a mapping", root.Kind)
		}
		if n := findAlias(root, 0); n != nil {
			t.Fatalf("alias or anchor at %d:%d passed", n.Line, n.Column)
		}
		errs := &Errors{File: "fuzz.yaml"}
		errs.Pairs(root, nil, func(_ string, _, v *yaml.Node) {
			var s string
			errs.Scalar(v, "v", &s)
		})
		if err := errs.Err(); err != nil && !strings.HasPrefix(err.Error(), "fuzz.yaml:") {
			t.Fatalf("error %q does not name the file", err)
		}
	})
}

func TestDecode(t *testing.T) {
	type inner struct {
		N int `yaml:"n"`
	}
	type cfg struct {
		Name  string `yaml:"name"`
		Inner inner  `yaml:"inner"`
	}
	var c cfg
	if err := Decode("c.yaml", []byte("name: x\ninner: {n: 3}\n"), &c); err != nil || c.Name != "x" || c.Inner.N != 3 {
		t.Fatalf("%+v, %v", c, err)
	}
	if err := Decode("c.yaml", nil, &c); err != nil || c.Name != "x" {
		t.Fatalf("an empty file: %+v, %v", c, err)
	}
	for _, tc := range []struct{ in, want string }{
		{"name: x\nnmae: y\n", "c.yaml:2: field nmae not found"},
		{"inner:\n  n: many\n", "c.yaml:2: cannot unmarshal"},
		{"name: [\n", "c.yaml:"},
		{"a: &x 1\nname: *x\n", "c.yaml:1:4: anchors and aliases are not supported"},
	} {
		err := Decode("c.yaml", []byte(tc.in), &cfg{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Decode(%q) = %v, want %q", tc.in, err, tc.want)
		}
	}
}
