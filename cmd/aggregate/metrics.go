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
	registry       *prometheus.Registry
	eventsIn       *prometheus.CounterVec
	invalid        prometheus.Counter
	redeliveries   prometheus.Counter
	rowsInserted   prometheus.Counter
	acked          prometheus.Counter
	pairsRefreshed prometheus.Counter
	failures       *prometheus.CounterVec
	held           prometheus.Gauge
	lag            prometheus.Gauge
	ackPending     prometheus.Gauge
	insertLatency  prometheus.Histogram
	refreshLatency prometheus.Histogram
	batchLatency   prometheus.Histogram
	requests       *prometheus.HistogramVec

	lost *loss.Metric

	*httpapi.States // last outcome of the consumer and of the migrations, for /readyz
}

func newMetrics() *metrics {
	reg := prometheus.NewRegistry()
	f := promauto.With(reg)
	lat := func(name, help string) prometheus.Histogram {
		return f.NewHistogram(prometheus.HistogramOpts{Name: name, Help: help,
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 16)})
	}
	m := &metrics{
		registry: reg,
		eventsIn: f.NewCounterVec(prometheus.CounterOpts{Name: "flagstream_aggregate_events_in_total",
			Help: "Analytics events fetched and decoded, by type (redeliveries included)."}, []string{"type"}),
		invalid: f.NewCounter(prometheus.CounterOpts{Name: "flagstream_aggregate_events_invalid_total",
			Help: "Analytics messages no aggregate can read: terminated, not retried."}),
		redeliveries: f.NewCounter(prometheus.CounterOpts{Name: "flagstream_aggregate_redeliveries_total",
			Help: "Analytics messages delivered more than once (a crash, a timeout, a handed-back batch)."}),
		rowsInserted: f.NewCounter(prometheus.CounterOpts{Name: "flagstream_aggregate_rows_inserted_total",
			Help: "Raw event rows inserted into ClickHouse (a redelivered event is inserted again and deduplicated on read)."}),
		acked: f.NewCounter(prometheus.CounterOpts{Name: "flagstream_aggregate_events_acked_total",
			Help: "Analytics messages acknowledged: inserted and in the reports' state."}),
		pairsRefreshed: f.NewCounter(prometheus.CounterOpts{Name: "flagstream_aggregate_pairs_refreshed_total",
			Help: "(experiment, user) states recomputed."}),
		failures: f.NewCounterVec(prometheus.CounterOpts{Name: "flagstream_aggregate_clickhouse_failures_total",
			Help: "Failed ClickHouse attempts, by operation (insert, refresh); each is retried."}, []string{"op"}),
		held: f.NewGauge(prometheus.GaugeOpts{Name: "flagstream_aggregate_messages_held",
			Help: "Messages fetched and not yet acknowledged by this instance."}),
		lag: f.NewGauge(prometheus.GaugeOpts{Name: "flagstream_aggregate_consumer_pending",
			Help: "Analytics messages not yet delivered to any aggregate (the backlog)."}),
		ackPending: f.NewGauge(prometheus.GaugeOpts{Name: "flagstream_aggregate_consumer_ack_pending",
			Help: "Analytics messages delivered to some aggregate and not yet acknowledged."}),
		insertLatency:  lat("flagstream_aggregate_insert_seconds", "Time to insert one batch into the raw table."),
		refreshLatency: lat("flagstream_aggregate_refresh_seconds", "Time to recompute the state of the pairs of the queued batches."),
		batchLatency:   lat("flagstream_aggregate_batch_seconds", "Time from a batch's first message to its acknowledgement."),
		requests: f.NewHistogramVec(prometheus.HistogramOpts{Name: "flagstream_aggregate_request_seconds",
			Help: "Time to answer report requests, by route.", Buckets: prometheus.ExponentialBuckets(0.001, 2, 16)}, []string{"route"}),
		States: httpapi.NewStates(map[string]error{"consumer": errors.New("not attached yet"), "migrations": errors.New("not applied yet")}),
	}
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.lost = loss.New(reg, "analytics_stream_gap")
	return m
}
