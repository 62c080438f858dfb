package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/kanal-dev/kanal/geo"
	"github.com/kanal-dev/kanal/internal/wire"
)

// NoticeRequest is the body of POST /v1/notices.
type NoticeRequest struct {
	// BBox is the area, minLon,minLat,maxLon,maxLat: every vehicle in a
	// cell of it gets the notice.
	BBox string `json:"bbox"`
	// Text is what the vehicles show: 1 to 500 characters.
	Text string `json:"text"`
	// ExpiresIn is how long the notice lasts, a Go duration ("30m");
	// empty means the gateway's notice_ttl.
	ExpiresIn string `json:"expires_in,omitempty"`
}

// NoticeResponse answers POST /v1/notices.
type NoticeResponse struct {
	ID      string    `json:"id"`
	Cells   int       `json:"cells"`
	Expires time.Time `json:"expires"`
}

// postNotice puts a notice for every cell of the area into KANAL_NOTICES,
// from where each gateway's relay sends it to kanal/v1/cells/{cell}/notice.
// It answers 202 once JetStream has stored all of them.
func (a *API) postNotice(w http.ResponseWriter, r *http.Request) {
	var req NoticeRequest
	dec := json.NewDecoder(io.LimitReader(r.Body, maxBodyBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, "body: want JSON {\"bbox\": \"minLon,minLat,maxLon,maxLat\", \"text\": \"...\"}: "+err.Error())
		return
	}
	n, tokens, err := a.notice(req)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	data, _ := json.Marshal(n)
	if len(data) > wire.MaxMessageBytes {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("the notice is %d bytes, over the %d vehicles accept: use a shorter text", len(data), wire.MaxMessageBytes))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	if err := a.publishNotice(ctx, n.ID, tokens, data); err != nil {
		writeError(w, http.StatusServiceUnavailable, "notice not stored: "+err.Error())
		return
	}
	a.log.Info("notice sent", "id", n.ID, "cells", len(tokens))
	writeJSON(w, http.StatusAccepted, NoticeResponse{ID: n.ID, Cells: len(tokens), Expires: n.Expires})
}

// maxListedCells: a notice for more cells than this leaves its Cells list
// out (vehicles need only its id), so that it stays small.
const maxListedCells = 50

// notice checks a request and builds its notice and the cell tokens it
// goes to.
func (a *API) notice(req NoticeRequest) (wire.Notice, []string, error) {
	var n wire.Notice
	text := strings.TrimSpace(req.Text)
	switch {
	case text == "":
		return n, nil, errors.New("text: empty")
	case !utf8.ValidString(text):
		return n, nil, errors.New("text: not UTF-8")
	case utf8.RuneCountInString(text) > maxNoticeText:
		return n, nil, fmt.Errorf("text: %d characters, at most %d", utf8.RuneCountInString(text), maxNoticeText)
	}
	if req.BBox == "" {
		return n, nil, errors.New("bbox: empty, want minLon,minLat,maxLon,maxLat")
	}
	b, err := geo.ParseBBox(req.BBox)
	if err != nil {
		return n, nil, err
	}
	ttl := a.opts.NoticeTTL
	if req.ExpiresIn != "" {
		if ttl, err = time.ParseDuration(req.ExpiresIn); err != nil || ttl <= 0 || ttl > 7*24*time.Hour {
			return n, nil, fmt.Errorf("expires_in %q: want a duration from 1s to 168h", req.ExpiresIn)
		}
	}
	cells, err := a.grid.Cover(b, a.opts.MaxCells)
	if errors.Is(err, geo.ErrTooManyCells) {
		return n, nil, fmt.Errorf("bbox %s covers more than %d cells: use a smaller area", b, a.opts.MaxCells)
	}
	if err != nil {
		return n, nil, err
	}
	tokens := make([]string, len(cells))
	for i, c := range cells {
		tokens[i] = c.Token()
	}
	now := a.opts.Now().UTC()
	n = wire.Notice{ID: newNoticeID(), Kind: "operator", Text: text, Issued: now, Expires: now.Add(ttl)}
	if len(tokens) <= maxListedCells {
		n.Cells = tokens
	}
	return n, tokens, nil
}

// publishNotice stores the notice once per cell, each with its own
// Nats-Msg-Id, and waits for every ack.
func (a *API) publishNotice(ctx context.Context, id string, cells []string, data []byte) error {
	futures := make([]jetstream.PubAckFuture, 0, len(cells))
	for _, cell := range cells {
		f, err := a.opts.JetStream.PublishAsync(wire.NoticeSubject(cell), data, jetstream.WithMsgID(id+":"+cell))
		if err != nil {
			return err
		}
		futures = append(futures, f)
	}
	for _, f := range futures {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			return err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// newNoticeID returns a random notice id: 64 bits, op- in front.
func newNoticeID() string {
	var b [8]byte
	rand.Read(b[:])
	return "op-" + hex.EncodeToString(b[:])
}
