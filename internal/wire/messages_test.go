package wire

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestParseCommand(t *testing.T) {
	c, err := ParseCommand([]byte(`{"id":"c1","cmd":"keyframe"}`))
	if err != nil || c.ID != "c1" || c.Cmd != CmdKeyframe {
		t.Fatalf("got %+v, %v", c, err)
	}
	for _, bad := range []string{``, `{}`, `{"id":"x"}`, `[1]`, `{"cmd":` + strings.Repeat(" ", MaxMessageBytes) + `"x"}`} {
		if _, err := ParseCommand([]byte(bad)); err == nil {
			t.Errorf("ParseCommand(%.40q) accepted", bad)
		}
	}
}

func TestNoticeRoundTrip(t *testing.T) {
	n := Notice{ID: "n1", Kind: "fog", Text: "Fog ahead", Cells: []string{"479e7"}, Issued: time.Unix(1700000000, 0).UTC()}
	b, err := json.Marshal(n)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "expires") {
		t.Errorf("zero expiry written: %s", b)
	}
	back, err := ParseNotice(b)
	if err != nil || back.ID != n.ID || back.Text != n.Text || !back.Issued.Equal(n.Issued) || len(back.Cells) != 1 {
		t.Fatalf("got %+v, %v", back, err)
	}
	if _, err := ParseNotice([]byte(`{"id":"n2"}`)); err == nil {
		t.Error("a notice without text accepted")
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"id":"c1","cmd":"keyframe"}`))
	f.Add([]byte(`{"id":"n1","kind":"fog","text":"x","cells":["47"],"issued":"2025-01-01T00:00:00Z"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		if c, err := ParseCommand(data); err == nil && c.Cmd == "" {
			t.Fatal("command without cmd accepted")
		}
		if n, err := ParseNotice(data); err == nil && (n.ID == "" || n.Text == "") {
			t.Fatal("notice without id or text accepted")
		}
	})
}
