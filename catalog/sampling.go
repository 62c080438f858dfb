package catalog

import (
	"fmt"
	"strconv"
)

// Sampling is what the uplink's sampler does with one catalog signal. It is
// uplink policy, written beside each rule of a mapping file, and lives here
// (not in dbc, which reads the mapping) so the uplink can use it without
// importing the decoder: the arrows point from dbc and uplink to catalog.
//
// A periodic signal (OnChange false) is sent every IntervalMS. An on-change
// signal is sent when it moves by more than Deadband from the last value
// sent, but not more often than every IntervalMS (0: every change). Either
// kind is also sent at the sampler's heartbeat when it has not been sent for
// that long, so a signal that never changes is still seen to be alive.
type Sampling struct {
	OnChange   bool
	IntervalMS uint32
	Deadband   float64
	Priority   Priority
}

// Priority orders signals in the uplink. A change of a critical signal (a
// warning lamp, hazard lights, fog lights) skips the batching delay so it
// reaches the cloud in well under a second.
type Priority uint8

// Priorities, lowest first. The zero value means unset; the mapping loader
// gives a rule without `priority` PriorityNormal.
const (
	PriorityLow Priority = iota + 1
	PriorityNormal
	PriorityHigh
	PriorityCritical
)

var priorityNames = [...]string{PriorityLow: "low", PriorityNormal: "normal", PriorityHigh: "high", PriorityCritical: "critical"}

// ParsePriority returns the priority named s: low, normal, high or critical.
func ParsePriority(s string) (Priority, error) {
	for p, name := range priorityNames {
		if name != "" && name == s {
			return Priority(p), nil
		}
	}
	return 0, fmt.Errorf("unknown priority %q (want low, normal, high or critical)", s)
}

// String returns the name used in mapping files.
func (p Priority) String() string {
	if int(p) < len(priorityNames) && priorityNames[p] != "" {
		return priorityNames[p]
	}
	return "priority(" + strconv.Itoa(int(p)) + ")"
}
