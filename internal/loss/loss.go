// Package loss is the one metric, exported by each service for its part,
// that reads 0 unless events were lost between an acknowledgement to their
// sender and the report, and the /readyz warning that goes with it.
//
// Reasons: events a stream removed before its consumer took them
// (raw_stream_gap, analytics_stream_gap), exposures flagd dropped with its
// buffer full (exposures_dropped), conversions held for an exposure that
// never reached the live counters (held_expired). Alert on any value above 0.
package loss

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/flagstream/flagstream/internal/httpapi"
)

// Name is the metric's name, the same in every service.
const Name = "flagstream_events_lost"

// Metric is a service's part of the loss metric. Safe for concurrent use.
type Metric struct {
	vec     *prometheus.GaugeVec
	mu      sync.Mutex
	reasons []string
	values  map[string]float64
}

// New registers the metric on reg with the service's reasons, each at 0.
func New(reg prometheus.Registerer, reasons ...string) *Metric {
	m := &Metric{
		vec: promauto.With(reg).NewGaugeVec(prometheus.GaugeOpts{Name: Name,
			Help: "Events lost between their sender's acknowledgement and the report, by reason (0 unless something went wrong)."}, []string{"reason"}),
		reasons: reasons,
		values:  map[string]float64{},
	}
	for _, r := range reasons {
		m.vec.WithLabelValues(r)
	}
	return m
}

// Add counts n more events lost for reason.
func (m *Metric) Add(reason string, n float64) {
	m.mu.Lock()
	m.values[reason] += n
	m.vec.WithLabelValues(reason).Set(m.values[reason])
	m.mu.Unlock()
}

// Set sets reason's total (for a total kept elsewhere, such as Redis).
func (m *Metric) Set(reason string, n float64) {
	m.mu.Lock()
	m.values[reason] = n
	m.vec.WithLabelValues(reason).Set(n)
	m.mu.Unlock()
}

// Err describes what was lost, or is nil when nothing was.
func (m *Metric) Err() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	var parts []string
	for _, r := range m.reasons {
		if v := m.values[r]; v > 0 {
			parts = append(parts, fmt.Sprintf("%s %.0f", r, v))
		}
	}
	if len(parts) == 0 {
		return nil
	}
	return fmt.Errorf("events lost: %s (metric %s)", strings.Join(parts, ", "), Name)
}

// Check is the /readyz warning: it fails, without making the service
// unready, once anything was lost.
func (m *Metric) Check() httpapi.Check {
	return httpapi.Check{Name: "events_lost", Warn: true, Fn: func(context.Context) error { return m.Err() }}
}
