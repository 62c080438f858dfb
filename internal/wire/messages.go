package wire

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Presence is what a vehicle publishes, retained, on its status topic: online
// when it connects, and offline as its last will (the broker publishes it when
// the connection is lost) or before a clean disconnect.
type Presence struct {
	Type   string    `json:"type"` // always "presence"
	Online bool      `json:"online"`
	Boot   string    `json:"boot,omitempty"`
	Agent  string    `json:"agent,omitempty"` // agent version
	At     time.Time `json:"at"`
}

// Command is what the cloud sends on a vehicle's cmd topic.
type Command struct {
	ID  string `json:"id"`  // echoed in the reply
	Cmd string `json:"cmd"` // keyframe, status, ...
}

// Commands every agent understands. Any other is answered with ok: false.
const (
	// CmdKeyframe: send the last value of every mapped signal now. A cloud
	// that lost state asks it of every vehicle.
	CmdKeyframe = "keyframe"
	// CmdStatus: reply with the agent's state (connection, spool, counts).
	CmdStatus = "status"
)

// Reply answers a Command. The vehicle publishes it on its status topic (not
// retained): a vehicle may publish only its batch and status topics, and the
// status topic is the vehicle speaking about itself.
type Reply struct {
	Type   string         `json:"type"` // always "reply"
	ID     string         `json:"id"`
	Cmd    string         `json:"cmd"`
	OK     bool           `json:"ok"`
	Error  string         `json:"error,omitempty"`
	Status map[string]any `json:"status,omitempty"`
	At     time.Time      `json:"at"`
}

// Notice is a message from the cloud to every vehicle in some grid cells:
// fog ahead, a closed road. It carries no vehicle identity.
type Notice struct {
	ID      string    `json:"id"`   // unique per notice, so a vehicle in two of its cells shows it once
	Kind    string    `json:"kind"` // fog, operator, ...
	Text    string    `json:"text"`
	Cells   []string  `json:"cells,omitempty"` // the cell tokens it was sent to
	Issued  time.Time `json:"issued"`
	Expires time.Time `json:"expires,omitzero"`
}

// MaxMessageBytes bounds the JSON messages of this package. A command or
// notice larger than this is refused before it is parsed.
const MaxMessageBytes = 16 << 10

// ParseCommand reads a command, refusing what is too large or has no cmd.
func ParseCommand(data []byte) (Command, error) {
	var c Command
	if err := parse(data, &c); err != nil {
		return c, fmt.Errorf("command: %w", err)
	}
	if c.Cmd == "" {
		return c, errors.New("command: missing cmd")
	}
	return c, nil
}

// ParseNotice reads a notice, refusing what is too large or has no id or text.
func ParseNotice(data []byte) (Notice, error) {
	var n Notice
	if err := parse(data, &n); err != nil {
		return n, fmt.Errorf("notice: %w", err)
	}
	if n.ID == "" || n.Text == "" {
		return n, errors.New("notice: missing id or text")
	}
	return n, nil
}

func parse(data []byte, v any) error {
	if len(data) > MaxMessageBytes {
		return fmt.Errorf("%d bytes, at most %d", len(data), MaxMessageBytes)
	}
	if err := json.Unmarshal(data, v); err != nil {
		return err
	}
	return nil
}
