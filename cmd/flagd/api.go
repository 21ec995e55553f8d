package main

import (
	"context"
	"errors"
	"net/http"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"

	"github.com/flagstream/flagstream/internal/httpapi"
	"github.com/flagstream/flagstream/pkg/events"
	"github.com/flagstream/flagstream/pkg/flags"
)

// Body limits: an evaluation context is small; a flag with long user lists
// is not.
const (
	evalBodyLimit = 64 << 10
	flagBodyLimit = 1 << 20
)

// api holds what the handlers share. client is nil until the first load from
// Redis succeeds; evaluations answer 503 until then. store and storeRaw are
// Redis and JetStream in flagd (main.go); the handler tests put memory there.
type api struct {
	store   flagStore
	client  atomic.Pointer[flags.Client]
	tokens  httpapi.Tokens
	metrics *metrics
	log     zerolog.Logger
	// bulkExposures: bulk evaluation publishes exposures as single
	// evaluation does (the old behaviour; see bulkEvaluate).
	bulkExposures bool
	// publish queues an exposure for the raw stream (false: the buffer is
	// full, the event is dropped and counted).
	publish func(events.Event) bool
	// storeRaw stores events in the raw stream and returns once JetStream
	// acknowledged them (POST /v1/track's conversions).
	storeRaw func(context.Context, []events.Event) error
	// window bounds the times apps give their exposures (POST /v1/exposures).
	window events.Window
	// streams serves OFREP event streams (stream.go); nil when off.
	streams *streamHub
}

var errNotLoaded = errors.New("flags not loaded from Redis yet")

func (a *api) loaded() error {
	if a.client.Load() == nil {
		return errNotLoaded
	}
	return nil
}

func (a *api) handler(health *httpapi.Health, reg *prometheus.Registry) http.Handler {
	mux := http.NewServeMux()
	a.routes(mux)
	health.Register(mux)
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	return mux
}

func (a *api) routes(mux *http.ServeMux) {
	need := a.tokens.Require
	// OFREP answers auth errors itself, in its own shape.
	mux.Handle("POST /ofrep/v1/evaluate/flags/{key}", a.ofrepOne())
	mux.Handle("POST /ofrep/v1/evaluate/flags", a.ofrepBulk())

	mux.Handle("POST /v1/evaluate", need(httpapi.ScopeEvaluate, a.evaluateOne()))
	mux.Handle("POST /v1/evaluate/all", need(httpapi.ScopeEvaluate, a.evaluateAll()))
	mux.Handle("POST /v1/exposures", need(httpapi.ScopeEvaluate, a.exposures()))
	mux.Handle("POST /v1/track", need(httpapi.ScopeEvaluate, a.track()))

	mux.Handle("GET /v1/flags", need(httpapi.ScopeRead, a.listFlags()))
	mux.Handle("GET /v1/flags/{key}", need(httpapi.ScopeRead, a.getFlag()))
	mux.Handle("PUT /v1/flags/{key}", need(httpapi.ScopeAdmin, a.putFlag()))
	mux.Handle("DELETE /v1/flags/{key}", need(httpapi.ScopeAdmin, a.deleteFlag()))
	mux.Handle("GET /v1/flags/{key}/rollout", need(httpapi.ScopeRead, a.getRollout()))
	mux.Handle("PUT /v1/flags/{key}/rollout", need(httpapi.ScopeAdmin, a.putRollout()))
	mux.Handle("POST /v1/flags/{key}/rollout/advance", need(httpapi.ScopeAdmin, a.moveRollout(a.store.AdvanceRollout)))
	mux.Handle("POST /v1/flags/{key}/rollout/rollback", need(httpapi.ScopeAdmin, a.moveRollout(a.store.RollbackRollout)))

	// The seed tutorial's Express routes, with its request and response shapes.
	mux.Handle("POST /api/admin/flags", need(httpapi.ScopeAdmin, a.seedCreate()))
	mux.Handle("GET /api/admin/flags", need(httpapi.ScopeRead, a.seedList()))
	mux.Handle("DELETE /api/admin/flags/{name}", need(httpapi.ScopeAdmin, a.seedDelete()))
	mux.Handle("GET "+streamPath, a.eventStream()) // OFREP event streams: the URL carries the credential (stream_auth.go)
}
