package main

import (
	"errors"

	"github.com/flagstream/flagstream/internal/httpapi"
	"github.com/flagstream/flagstream/internal/loss"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

type metrics struct {
	registry     *prometheus.Registry
	eventsIn     *prometheus.CounterVec
	eventsOut    *prometheus.CounterVec
	invalid      *prometheus.CounterVec
	redeliveries prometheus.Counter
	dedupHits    prometheus.Counter
	unattributed prometheus.Counter
	held         prometheus.Counter
	reportOnly   *prometheus.CounterVec
	refused      prometheus.Counter
	lost         *loss.Metric
	lag          prometheus.Gauge
	ackPending   prometheus.Gauge
	redisLatency prometheus.Histogram
	natsLatency  prometheus.Histogram

	*httpapi.States // last outcome of the consumer, for /readyz
}

func newMetrics() *metrics {
	reg := prometheus.NewRegistry()
	f := promauto.With(reg)
	lat := func(name, help string) prometheus.Histogram {
		return f.NewHistogram(prometheus.HistogramOpts{Name: name, Help: help,
			Buckets: prometheus.ExponentialBuckets(0.0002, 2, 14)})
	}
	m := &metrics{
		registry: reg,
		eventsIn: f.NewCounterVec(prometheus.CounterOpts{Name: "flagstream_ingest_events_in_total",
			Help: "Events accepted over HTTP into the raw stream, by type."}, []string{"type"}),
		eventsOut: f.NewCounterVec(prometheus.CounterOpts{Name: "flagstream_ingest_events_forwarded_total",
			Help: "Raw events counted in Redis and forwarded to the analytics stream, by type."}, []string{"type"}),
		invalid: f.NewCounterVec(prometheus.CounterOpts{Name: "flagstream_ingest_events_invalid_total",
			Help: "Events refused, by the field at fault (raw_message: unreadable on the raw stream)."}, []string{"reason"}),
		redeliveries: f.NewCounter(prometheus.CounterOpts{Name: "flagstream_ingest_redeliveries_total",
			Help: "Raw messages delivered more than once."}),
		dedupHits: f.NewCounter(prometheus.CounterOpts{Name: "flagstream_ingest_dedup_hits_total",
			Help: "Events (or attributions) found already counted: nothing changed."}),
		unattributed: f.NewCounter(prometheus.CounterOpts{Name: "flagstream_ingest_conversions_unattributed_total",
			Help: "Conversions of users exposed to no experiment: counted nowhere, as in the seed."}),
		held: f.NewCounter(prometheus.CounterOpts{Name: "flagstream_ingest_conversions_held_total",
			Help: "Conversions that arrived before their user's exposure, held in Redis until it comes (up to an hour)."}),
		reportOnly: f.NewCounterVec(prometheus.CounterOpts{Name: "flagstream_ingest_events_report_only_total",
			Help: "Events forwarded to the report but not counted live: older than --dedup-window, or of an archived experiment."}, []string{"reason"}),
		refused: f.NewCounter(prometheus.CounterOpts{Name: "flagstream_ingest_batches_refused_full_total",
			Help: "POST /v1/events answered 503 because the raw stream was full (its consumer is behind)."}),
		lag: f.NewGauge(prometheus.GaugeOpts{Name: "flagstream_ingest_consumer_pending",
			Help: "Raw messages not yet delivered to any ingest (the backlog)."}),
		ackPending: f.NewGauge(prometheus.GaugeOpts{Name: "flagstream_ingest_consumer_ack_pending",
			Help: "Raw messages delivered but not yet acknowledged."}),
		redisLatency: lat("flagstream_ingest_redis_seconds", "Time to apply one batch to the Redis counters."),
		natsLatency:  lat("flagstream_ingest_forward_seconds", "Time to forward one batch and receive its acknowledgements."),
		States:       httpapi.NewStates(map[string]error{"consumer": errors.New("not attached yet")}),
	}
	m.lost = loss.New(reg, "raw_stream_gap", "held_expired")
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}
