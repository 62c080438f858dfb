package batch

import (
	"fmt"
	"math"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/kanal-dev/kanal/catalog"
	"github.com/kanal-dev/kanal/uplink/batch/internal/batchpb"
)

// maxTimeExp is the coarsest time unit a column can use: 10^9 ns, a second.
const maxTimeExp = 9

// pow10i[e] is 10^e as an int64.
var pow10i = [maxTimeExp + 1]int64{1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9}

// maxBaseS bounds Body.time_base_s: time_base_s × 10^9 must fit in int64.
const maxBaseS = math.MaxInt64 / 1_000_000_000

// timeBase returns the time base of a body whose earliest value is at
// earliest (Unix ns), truncated to whole seconds. A multiple of 10^9 ns is
// a multiple of every column's unit, so every column's times stay exact
// relative to it; truncation (not floor) keeps it inside int64.
func timeBase(earliest int64) int64 { return earliest / 1e9 }

// timeExp returns the largest e ≤ maxTimeExp such that every time of vs is
// a multiple of 10^e ns: the coarsest unit that is exact for the column
// (10^3 for candump's microseconds, 10^6 for milliseconds).
func timeExp(vs []catalog.Value) uint32 {
	e := maxTimeExp
	for i := range vs {
		t := vs[i].Time
		for e > 0 && t%pow10i[e] != 0 {
			e--
		}
		if e == 0 {
			break
		}
	}
	return uint32(e)
}

// writeTimes sets the time fields of c for vs: the unit, and the times in
// that unit as steps (steps.go), the first relative to the body's base
// (Unix seconds). q is scratch space, returned for reuse.
func writeTimes(c *batchpb.Column, vs []catalog.Value, baseS int64, q []int64) []int64 {
	e := timeExp(vs)
	u := pow10i[e]
	q = q[:0]
	for i := range vs {
		q = append(q, vs[i].Time/u) // exact: u divides every time
	}
	c.TimeExp = e
	c.TimeStep, c.Times = appendSteps(c.Times[:0], q, false)
	c.Times[0] -= baseS * pow10i[maxTimeExp-e] // wraps for times far apart; so does the reader's sum
	if c.TimeStep == 1 {
		c.TimeStep = 0 // the default: not written
	}
	return q
}

// readTimes sets out[i].Time from the time fields of the column message
// msg (c.times == len(out)). A time outside int64 nanoseconds is an error:
// no encoder writes one.
func readTimes(out []catalog.Value, msg []byte, c *column, baseS int64) error {
	if c.timeExp > maxTimeExp {
		return fmt.Errorf("time_exp %d (at most %d)", c.timeExp, maxTimeExp)
	}
	u := pow10i[c.timeExp]
	lo, hi := math.MinInt64/u, math.MaxInt64/u
	step := max(c.timeStep, 1)
	q := uint64(baseS * pow10i[maxTimeExp-c.timeExp])
	var err error
	forEach(msg, colTimes, elemVarint, func(i int, v uint64) {
		d := uint64(protowire.DecodeZigZag(v))
		if i == 0 {
			q += d
		} else {
			q += d * step
		}
		if t := int64(q); t < lo || t > hi {
			if err == nil {
				err = fmt.Errorf("time %d: %d × 10^%d ns is out of range", i, t, c.timeExp)
			}
			return
		}
		out[i].Time = int64(q) * u
	})
	return err
}
