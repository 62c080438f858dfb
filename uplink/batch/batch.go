package batch

import "github.com/kanal-dev/kanal/catalog"

// Batch is what an agent sends in one payload: a header and signal values.
type Batch struct {
	Header Header
	// Values in any order for Encode. Decode returns them grouped by id,
	// ids ascending, each id's values in the order they were encoded.
	Values []catalog.Value
}
