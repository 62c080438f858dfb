//go:build !race

package socketcan

const raceEnabled = false
