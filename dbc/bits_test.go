package dbc

// getRawSlow reads the signal bit by bit, without sign extension.
func getRawSlow(s *Signal, data []byte) uint64 {
	var v uint64
	for i := 0; i < s.Length; i++ {
		b, bit := bitPos(s, i)
		if data[b]>>bit&1 != 0 {
			v |= 1 << uint(i)
		}
	}
	return v
}
