package catalog

import "testing"

func TestPriorityNames(t *testing.T) {
	for _, p := range []Priority{PriorityLow, PriorityNormal, PriorityHigh, PriorityCritical} {
		back, err := ParsePriority(p.String())
		if err != nil || back != p {
			t.Errorf("%d -> %q -> %d, %v", p, p.String(), back, err)
		}
	}
	if _, err := ParsePriority("urgent"); err == nil {
		t.Error("ParsePriority(urgent) did not fail")
	}
	if s := Priority(0).String(); s != "priority(0)" {
		t.Errorf("zero priority prints %q", s)
	}
	if PriorityCritical <= PriorityHigh || PriorityLow == 0 {
		t.Error("priorities are not ordered lowest first from 1")
	}
}
