package spool

import "errors"

// Errors of a Spool, wrapped with the operation and the record or file.
var (
	// ErrClosed is returned by every method of a Spool after Close.
	ErrClosed = errors.New("spool closed")
	// ErrTooLarge is returned by Append for a batch that could never fit in
	// Options.MaxBytes. The batcher must never build one (it also exceeds
	// the broker's packet limit long before), so it is refused, not
	// truncated.
	ErrTooLarge = errors.New("batch larger than the spool budget")
	// ErrNotFound is returned by Quarantine for an id that is not queued
	// (acked, dropped or quarantined already), and by Ack for an id the
	// spool never assigned.
	ErrNotFound = errors.New("record not in the spool")
	// ErrLocked is returned by Open when another Spool, in this process or
	// another, holds the directory.
	ErrLocked = errors.New("spool directory in use")
	// ErrVersion is returned by Open for a segment written in a format this
	// build does not know (a newer agent's spool after a downgrade). Open
	// refuses it rather than treating it as damage and dropping its batches.
	ErrVersion = errors.New("unsupported spool format version")
)
