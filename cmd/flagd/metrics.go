package main

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/rs/zerolog"

	"github.com/flagstream/flagstream/internal/loss"
	"github.com/flagstream/flagstream/pkg/events"
	"github.com/flagstream/flagstream/pkg/flags"
)

// metrics are flagd's Prometheus series, on a registry of its own so that
// several flagd instances can live in one test process.
type metrics struct {
	registry    *prometheus.Registry
	evaluations *prometheus.CounterVec
	latency     prometheus.Histogram
	problems    prometheus.Counter
	// exposureRequests counts the flags POST /v1/exposures was asked about,
	// by outcome; tracked the conversions POST /v1/track stored.
	exposureRequests *prometheus.CounterVec
	tracked          prometheus.Counter

	lost        *loss.Metric
	dropLogMu   sync.Mutex
	dropLogNext time.Time
	dropSince   int
}

func newMetrics() *metrics {
	reg := prometheus.NewRegistry()
	f := promauto.With(reg)
	m := &metrics{
		registry: reg,
		evaluations: f.NewCounterVec(prometheus.CounterOpts{
			Name: "flagstream_flagd_evaluations_total",
			Help: "Evaluations by flag and reason; flags that do not exist count as flag=\"(unknown)\".",
		}, []string{"flag", "reason"}),
		latency: f.NewHistogram(prometheus.HistogramOpts{
			Name:    "flagstream_flagd_evaluation_seconds",
			Help:    "Time to evaluate, from request decoded to result (bulk: per request).",
			Buckets: []float64{1e-6, 2.5e-6, 5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 5e-3, 1e-2},
		}),
		problems: f.NewCounter(prometheus.CounterOpts{
			Name: "flagstream_flagd_flag_problems_total",
			Help: "Flags read from Redis that the admin API would refuse (served as the seed serves them) or could not decode, once per flag version.",
		}),
	}
	m.exposureRequests = f.NewCounterVec(prometheus.CounterOpts{Name: "flagstream_flagd_exposure_reports_total",
		Help: "Flags apps reported as used (POST /v1/exposures), by outcome: published, not_exposed, stale, not_found, dropped."}, []string{"status"})
	m.tracked = f.NewCounter(prometheus.CounterOpts{Name: "flagstream_flagd_tracked_total",
		Help: "OpenFeature tracking events stored as conversions (POST /v1/track)."})
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.lost = loss.New(reg, "exposures_dropped")
	return m
}

// evaluated counts one evaluation; start is when the request began.
func (m *metrics) evaluated(f *flags.Flag, r flags.Result, start time.Time) {
	key := "(unknown)"
	if f != nil {
		key = f.Key
	}
	m.evaluations.WithLabelValues(key, string(r.Reason)).Inc()
	m.latency.Observe(time.Since(start).Seconds())
}

func (m *metrics) watchPublisher(p *events.Publisher) {
	f := promauto.With(m.registry)
	counter := func(name, help string, v func(events.PublisherStats) float64) {
		f.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, func() float64 { return v(p.Stats()) })
	}
	counter("flagstream_flagd_exposures_published_total", "Exposure events acknowledged by JetStream.",
		func(s events.PublisherStats) float64 { return float64(s.Published) })
	counter("flagstream_flagd_exposures_dropped_total", "Exposure events dropped because the buffer was full.",
		func(s events.PublisherStats) float64 { return float64(s.Dropped) })
	counter("flagstream_flagd_exposure_retries_total", "Exposure publishes retried after a failure or timeout.",
		func(s events.PublisherStats) float64 { return float64(s.Retries) })
	f.NewGaugeFunc(prometheus.GaugeOpts{Name: "flagstream_flagd_exposures_buffered",
		Help: "Exposure events waiting to be published."}, func() float64 { return float64(p.Stats().Buffered) })
}

func (m *metrics) watchClient(c *flags.Client) {
	f := promauto.With(m.registry)
	f.NewGaugeFunc(prometheus.GaugeOpts{Name: "flagstream_flagd_snapshot_age_seconds",
		Help: "Seconds since the last full reload of the flags from Redis."},
		func() float64 { return time.Since(c.LastResync()).Seconds() })
	f.NewGaugeFunc(prometheus.GaugeOpts{Name: "flagstream_flagd_flags",
		Help: "Flags held in memory."}, func() float64 { return float64(len(c.Keys())) })
}

// problem logs each problematic flag once per version (the client calls it so).
func (m *metrics) problem(log zerolog.Logger) func(string, error) {
	return func(key string, err error) {
		m.problems.Inc()
		log.Warn().Str("flag", key).Err(err).Msg("flag in Redis that the API would refuse; served as the seed serves it")
	}
}

// dropped logs overflow at most once every 10 s, with the count since the last line.
func (m *metrics) dropped(log zerolog.Logger) func(int) {
	return func(n int) {
		m.lost.Add("exposures_dropped", float64(n))
		m.dropLogMu.Lock()
		m.dropSince += n
		now := time.Now()
		if now.Before(m.dropLogNext) {
			m.dropLogMu.Unlock()
			return
		}
		count := m.dropSince
		m.dropSince, m.dropLogNext = 0, now.Add(10*time.Second)
		m.dropLogMu.Unlock()
		log.Error().Int("dropped", count).Msg("exposure buffer full: events dropped (NATS slow or away)")
	}
}
