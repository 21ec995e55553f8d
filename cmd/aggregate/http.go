package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/flagstream/flagstream/internal/chstore"
	"github.com/flagstream/flagstream/internal/httpapi"
	"github.com/flagstream/flagstream/internal/report"
	"github.com/flagstream/flagstream/pkg/stats"
)

// Limits of the API.
const (
	statsBodyLimit = 1 << 20 // POST /v1/stats: a few hundred variants at most
	maxVariants    = 100
	queryTimeout   = 30 * time.Second
)

type api struct {
	store   reportStore
	tokens  httpapi.Tokens
	metrics *metrics
	now     func() time.Time
}

// reportStore is what the report routes read: *chstore.Store in
// production; an interface so that handler tests run without ClickHouse.
type reportStore interface {
	report.Source
	Experiments(ctx context.Context) ([]chstore.Summary, error)
}

// experimentsResponse answers GET /v1/experiments.
type experimentsResponse struct {
	Experiments []chstore.Summary `json:"experiments"`
}

func (a *api) handler(health *httpapi.Health, reg *prometheus.Registry) http.Handler {
	mux := http.NewServeMux()
	read := func(route string, h http.Handler) http.Handler {
		return a.tokens.Require(httpapi.ScopeRead, a.timed(route, h))
	}
	mux.Handle("GET /v1/experiments", read("experiments", a.experiments()))
	mux.Handle("GET /v1/experiments/{key}/report", read("report", a.report()))
	mux.Handle("GET /v1/experiments/{key}/report.csv", read("report_csv", a.reportCSV()))
	mux.Handle("GET /v1/experiments/{key}/daily", read("daily", a.daily()))
	mux.Handle("POST /v1/stats", read("stats", a.stats()))
	// The HTML dashboard: static files holding no data (the page calls the
	// routes above with the user's token), so they need none themselves.
	mux.Handle("GET /{$}", a.timed("dashboard", dashboard()))
	mux.Handle("GET /assets/", a.timed("dashboard", dashboard()))
	health.Register(mux)
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	return mux
}

func (a *api) timed(route string, h http.Handler) http.Handler {
	obs := a.metrics.requests.WithLabelValues(route)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		h.ServeHTTP(w, r)
		obs.Observe(time.Since(start).Seconds())
	})
}

// apiError maps the report's and the store's errors to the HTTP families of
// httpapi: a parameter is 400, an unknown experiment 404, ClickHouse
// unreachable 503; a query ClickHouse refused is the server's own bug, 500.
func apiError(err error) error {
	var exc *clickhouse.Exception
	switch {
	case errors.Is(err, report.ErrInvalid), errors.Is(err, stats.ErrInvalid):
		return fmt.Errorf("%w: %w", httpapi.ErrBadRequest, err)
	case errors.Is(err, chstore.ErrNotFound):
		return fmt.Errorf("%w: %w", httpapi.ErrNotFound, err)
	case errors.As(err, &exc):
		return err
	case errors.Is(err, context.Canceled):
		return err
	}
	return fmt.Errorf("%w: clickhouse: %w", httpapi.ErrUnavailable, err)
}

func (a *api) experiments() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), queryTimeout)
		defer cancel()
		list, err := a.store.Experiments(ctx)
		if err != nil {
			httpapi.WriteError(w, r, apiError(err))
			return
		}
		if list == nil {
			list = []chstore.Summary{}
		}
		httpapi.WriteJSON(w, http.StatusOK, experimentsResponse{Experiments: list})
	})
}

func (a *api) build(r *http.Request) (report.Report, error) {
	p, err := report.ParseQuery(r.PathValue("key"), r.URL.Query())
	if err != nil {
		return report.Report{}, err
	}
	ctx, cancel := context.WithTimeout(r.Context(), queryTimeout)
	defer cancel()
	return report.Build(ctx, a.store, p, a.now())
}

func (a *api) report() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rep, err := a.build(r)
		if err != nil {
			httpapi.WriteError(w, r, apiError(err))
			return
		}
		httpapi.WriteJSON(w, http.StatusOK, rep)
	})
}

func (a *api) reportCSV() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rep, err := a.build(r)
		if err != nil {
			httpapi.WriteError(w, r, apiError(err))
			return
		}
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="%s_%s_%s_%s.csv"`, rep.Experiment, rep.Metric, rep.From, rep.To))
		_ = report.WriteCSV(w, rep)
	})
}

func (a *api) daily() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := report.ParseQuery(r.PathValue("key"), r.URL.Query())
		if err != nil {
			httpapi.WriteError(w, r, apiError(err))
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), queryTimeout)
		defer cancel()
		d, err := report.BuildDaily(ctx, a.store, p, a.now())
		if err != nil {
			httpapi.WriteError(w, r, apiError(err))
			return
		}
		httpapi.WriteJSON(w, http.StatusOK, d)
	})
}

// stats answers POST /v1/stats: the report's statistics for counts brought
// from elsewhere, by the report's own code path (stats.Compare).
func (a *api) stats() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		in, err := httpapi.Decode[stats.Input](w, r, statsBodyLimit)
		if err == nil {
			err = checkStatsInput(in)
		}
		if err != nil {
			httpapi.WriteError(w, r, apiError(err))
			return
		}
		httpapi.WriteJSON(w, http.StatusOK, stats.Compare(in))
	})
}

// checkStatsInput refuses what Input.Validate refuses, and inputs too large
// to be a report.
func checkStatsInput(in stats.Input) error {
	if len(in.Variants) > maxVariants {
		return &stats.FieldError{Field: "variants", Reason: fmt.Sprintf("%d variants; at most %d", len(in.Variants), maxVariants)}
	}
	return in.Validate()
}
