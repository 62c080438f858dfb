package store

// The exactly-once argument is in the package documentation (doc.go):
// where the dedup state lives, why a stale read is safe, why Window and
// Boots are enough, and what the scheme does not cover.

// Boots is how many boots per vehicle the dedup state remembers (K).
const Boots = 4

// Window is how many seqs below a boot's highest stored seq the dedup state
// marks one by one (W); anything older counts as decided. It must exceed
// uplink.MaxSpread (64) by the most seqs a boot can spend without spooling
// a batch; see the package documentation.
const Window = 128

// Result is what Store did with a batch.
type Result uint8

// Results of Store. A Duplicate is acknowledged to the vehicle like a
// Stored batch: the agent then deletes it.
const (
	Stored Result = iota + 1
	Duplicate
)

// String returns "stored" or "duplicate", as the bridge's metrics say.
func (r Result) String() string {
	switch r {
	case Stored:
		return "stored"
	case Duplicate:
		return "duplicate"
	}
	return "invalid"
}
