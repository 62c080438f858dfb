package agent

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/kanal-dev/kanal/dbc"
)

// counts are the agent loop's counters. The loop updates them under the
// agent's lock, with no Prometheus call per frame; the collector reads them
// at scrape time.
type counts struct {
	framesByBus map[string]uint64
	skipped     [5]uint64 // by dbc.Status
	sampled     uint64    // values the sampler sent on
	dropped     uint64    // values the sampler held back (no change, too soon)
	spoolErrors uint64
}

var (
	descFrames  = prometheus.NewDesc("kanal_agent_frames_total", "CAN frames the agent read, by bus.", []string{"bus"}, nil)
	descSkipped = prometheus.NewDesc("kanal_agent_decode_skipped_total", "Frames that did not decode, by reason.", []string{"reason"}, nil)
	descValues  = prometheus.NewDesc("kanal_agent_values_total", "Catalog values through the sampler, by decision: sent or dropped.", []string{"decision"}, nil)
	descNorm    = prometheus.NewDesc("kanal_agent_values_decoded_total", "Catalog values the mapping produced.", nil, nil)
	descSpool   = prometheus.NewDesc("kanal_agent_spool_errors_total", "Batches the spool could not take (disk errors).", nil, nil)
)

type agentCollector struct{ a *Agent }

func (c agentCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descFrames, descSkipped, descValues, descNorm, descSpool} {
		ch <- d
	}
}

func (c agentCollector) Collect(ch chan<- prometheus.Metric) {
	a := c.a
	a.mu.Lock()
	defer a.mu.Unlock()
	for bus, n := range a.counts.framesByBus {
		ch <- prometheus.MustNewConstMetric(descFrames, prometheus.CounterValue, float64(n), bus)
	}
	for st, n := range a.counts.skipped {
		if dbc.Status(st) != dbc.Decoded {
			ch <- prometheus.MustNewConstMetric(descSkipped, prometheus.CounterValue, float64(n), dbc.Status(st).String())
		}
	}
	ch <- prometheus.MustNewConstMetric(descValues, prometheus.CounterValue, float64(a.counts.sampled), "sent")
	ch <- prometheus.MustNewConstMetric(descValues, prometheus.CounterValue, float64(a.counts.dropped), "dropped")
	ch <- prometheus.MustNewConstMetric(descNorm, prometheus.CounterValue, float64(a.pipe.Stats.Normalized))
	ch <- prometheus.MustNewConstMetric(descSpool, prometheus.CounterValue, float64(a.counts.spoolErrors))
}
