package store

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/nats-io/nats.go/jetstream"
)

// Errors of Store and Dead, wrapped with the operation and JetStream's own
// error. Neither says the batch is lost: the caller answers the vehicle with
// a code it retries on, and the vehicle keeps the batch in its spool.
var (
	// ErrUnavailable: JetStream did not answer in time, or the connection
	// is down or reconnecting. The message may or may not have been
	// stored; a retry finds out.
	ErrUnavailable = errors.New("jetstream unavailable")
	// ErrRefused: JetStream answered and refused the message (a limit, a
	// message too large for the stream, a missing stream): it will keep
	// refusing until an operator changes something.
	ErrRefused = errors.New("jetstream refused the message")
)

// JetStream error codes the Store retries at once, re-reading the
// vehicle's last message: the subject moved on, or a publish on it is still
// being replicated.
const (
	codeWrongLastSeq         = 10071 // JSStreamWrongLastSequenceErrF
	codeWrongLastSeqConstant = 10164 // the same on a replicated stream, no sequence given
	codeLastSeqNotReady      = 10163 // JSStreamExpectedLastSeqPerSubjectNotReady
	codeMsgIDInProcess       = 10158 // JSStreamDuplicateMessageConflict: same id in flight
)

func isConflict(err error) bool {
	var api *jetstream.APIError
	if !errors.As(err, &api) {
		return false
	}
	switch api.ErrorCode {
	case codeWrongLastSeq, codeWrongLastSeqConstant, codeLastSeqNotReady, codeMsgIDInProcess:
		return true
	}
	return false
}

// classify wraps err from JetStream as ErrRefused (an API error other than
// 503) or ErrUnavailable (no answer, a timeout, a 503).
func classify(op string, err error) error {
	var api *jetstream.APIError
	if errors.As(err, &api) && api.Code != http.StatusServiceUnavailable {
		return fmt.Errorf("%s: %w: %w", op, ErrRefused, err)
	}
	return fmt.Errorf("%s: %w: %w", op, ErrUnavailable, err)
}
