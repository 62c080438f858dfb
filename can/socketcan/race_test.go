//go:build race

package socketcan

// raceEnabled relaxes the speed checks: the race detector slows the reader
// several times more than the writer.
const raceEnabled = true
