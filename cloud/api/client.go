package api

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/kanal-dev/kanal/cloud/alert"
)

// Client calls the API of a running gateway with a user of its credentials
// file: `ingest-gateway alerts watch` and `notice send`.
type Client struct {
	URL      string       // the gateway's HTTP address, e.g. http://127.0.0.1:8080
	User     string       // a traffic or operator user
	Password string       //
	HTTP     *http.Client // nil means a client without a timeout (streams last)
}

// StatusError is an answer of the API other than success.
type StatusError struct {
	Code    int
	Message string // the API's error text
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("%d %s: %s", e.Code, http.StatusText(e.Code), e.Message)
}

// Event is one event of the alert stream.
type Event struct {
	// Type is EventAlert for an alert change, EventReady once the stream
	// is open (after the active alerts, when the stream began with them).
	Type string
	// ID is the KANAL_ALERTS sequence: resume after it.
	ID    uint64
	Alert alert.Alert // for EventAlert
}

func (c *Client) http() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	return &http.Client{}
}

func (c *Client) request(ctx context.Context, method, path string, body any) (*http.Request, error) {
	var rd io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(c.URL, "/")+path, rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.User+":"+c.Password)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return req, nil
}

// do sends req and decodes a JSON answer into out.
func (c *Client) do(req *http.Request, out any) error {
	resp, err := c.http().Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return statusError(resp)
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<20)).Decode(out); err != nil {
		return fmt.Errorf("%s %s: answer: %w", req.Method, req.URL.Path, err)
	}
	return nil
}

func statusError(resp *http.Response) error {
	var e apiError
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if json.Unmarshal(data, &e) != nil || e.Error == "" {
		e.Error = strings.TrimSpace(string(data))
	}
	return &StatusError{Code: resp.StatusCode, Message: e.Error}
}

// Alerts returns the active alerts passing f.
func (c *Client) Alerts(ctx context.Context, f Filter) (AlertList, error) {
	var out AlertList
	req, err := c.request(ctx, http.MethodGet, "/v1/alerts?"+f.Query().Encode(), nil)
	if err != nil {
		return out, err
	}
	return out, c.do(req, &out)
}

// SendNotice sends a notice to every vehicle in an area.
func (c *Client) SendNotice(ctx context.Context, n NoticeRequest) (NoticeResponse, error) {
	var out NoticeResponse
	req, err := c.request(ctx, http.MethodPost, "/v1/notices", n)
	if err != nil {
		return out, err
	}
	return out, c.do(req, &out)
}

// Stream opens the alert stream once and calls fn for each event until the
// stream ends, ctx ends or fn fails. With resume, it starts after event
// id last; without, with the active alerts. It returns the id of the last
// event delivered to fn (last when none was).
func (c *Client) Stream(ctx context.Context, f Filter, last uint64, resume bool, fn func(Event) error) (uint64, error) {
	req, err := c.request(ctx, http.MethodGet, "/v1/alerts/stream?"+f.Query().Encode(), nil)
	if err != nil {
		return last, err
	}
	req.Header.Set("Accept", "text/event-stream")
	if resume {
		req.Header.Set("Last-Event-ID", strconv.FormatUint(last, 10))
	}
	resp, err := c.http().Do(req)
	if err != nil {
		return last, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return last, statusError(resp)
	}
	err = readEvents(resp.Body, func(e Event) error {
		if err := fn(e); err != nil {
			return err
		}
		last = e.ID
		return nil
	})
	if err != nil && ctx.Err() == nil {
		return last, err
	}
	return last, ctx.Err()
}

// maxEventLine bounds a line of the stream: an alert is a few hundred
// bytes, so a longer line is not the API speaking.
const maxEventLine = 1 << 20

// readEvents reads a text/event-stream (the WHATWG format the API writes)
// from r and calls fn for each event, until r ends, a line is malformed or
// fn fails. Comments (keepalives) and fields other than id, event and data
// are skipped.
func readEvents(r io.Reader, fn func(Event) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxEventLine)
	var id, typ string
	var data []byte
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "": // end of an event
			if len(data) == 0 {
				typ = ""
				continue
			}
			e, err := parseEvent(typ, id, data)
			if err != nil {
				return err
			}
			if err := fn(e); err != nil {
				return err
			}
			data, typ = data[:0], ""
		case strings.HasPrefix(line, ":"): // a comment: keepalive
		default:
			field, value, _ := strings.Cut(line, ":")
			value = strings.TrimPrefix(value, " ")
			switch field {
			case "id":
				id = value
			case "event":
				typ = value
			case "data":
				if len(data) > 0 {
					data = append(data, '\n')
				}
				data = append(data, value...)
			}
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("alert stream: %w", err)
	}
	return nil
}

// parseEvent reads one event of the stream.
func parseEvent(typ, id string, data []byte) (Event, error) {
	n, err := strconv.ParseUint(id, 10, 64)
	if err != nil {
		return Event{}, fmt.Errorf("alert stream: event id %q: %w", id, err)
	}
	e := Event{Type: typ, ID: n}
	switch typ {
	case EventAlert:
		if e.Alert, err = alert.Parse(data); err != nil {
			return e, fmt.Errorf("alert stream: event %d: %w", n, err)
		}
	case EventReady:
	default:
		return e, fmt.Errorf("alert stream: event %d: unknown type %q", n, typ)
	}
	return e, nil
}

// Watch follows the alert stream until ctx ends, reconnecting after a
// failure (waiting 1 s, doubling to 30 s) and resuming after the last
// event it delivered, so fn sees every change once. state is told of each
// connect and disconnect (err nil on connect). An answer that retrying
// cannot change (bad credentials, a bad filter) ends it with that error.
func (c *Client) Watch(ctx context.Context, f Filter, fn func(Event), state func(connected bool, err error)) error {
	var last uint64
	resume := false
	for wait := time.Second; ; {
		n, err := c.Stream(ctx, f, last, resume, func(e Event) error {
			if e.Type == EventReady {
				resume, wait = true, time.Second // from here on, resume after the last event
				state(true, nil)
				return nil
			}
			fn(e)
			return nil
		})
		last = n
		if ctx.Err() != nil {
			return nil
		}
		var se *StatusError
		if errors.As(err, &se) && se.Code/100 == 4 {
			return err
		}
		if err == nil {
			err = errors.New("stream ended")
		}
		state(false, err)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
		wait = min(2*wait, 30*time.Second)
	}
}
