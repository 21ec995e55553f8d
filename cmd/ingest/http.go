package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"

	"github.com/flagstream/flagstream/internal/httpapi"
	"github.com/flagstream/flagstream/internal/live"
	"github.com/flagstream/flagstream/pkg/events"
	"github.com/flagstream/flagstream/pkg/flags"
)

// Limits of POST /v1/events.
const (
	eventsBodyLimit = 8 << 20 // 8 MiB: 10,000 events of a generous size
	maxBatch        = 10_000
	publishTimeout  = 10 * time.Second
)

type api struct {
	raw      rawStore
	counters liveReader
	tokens   httpapi.Tokens
	metrics  *metrics
	window   events.Window
}

// rawStore is what POST /v1/events needs of the raw stream: store a batch
// and return once every event is acknowledged. jetStreamRaw in production;
// an interface so that handler tests run without a NATS server.
type rawStore interface {
	StoreRaw(ctx context.Context, evs []events.Event) error
}

// jetStreamRaw stores batches with events.StoreRaw.
type jetStreamRaw struct {
	js    jetstream.JetStream
	names events.Names
}

func (s jetStreamRaw) StoreRaw(ctx context.Context, evs []events.Event) error {
	return events.StoreRaw(ctx, s.js, s.names, events.MessageLimits{}, evs)
}

// liveReader is what the read routes need of the live counters
// (*live.Counters in production; an interface so that handler tests run
// without Redis).
type liveReader interface {
	Results(ctx context.Context, experiment, day string) (map[string]live.VariantStats, error)
	Experiments(ctx context.Context) ([]string, error)
}

func (a *api) handler(health *httpapi.Health, reg *prometheus.Registry) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("POST /v1/events", a.tokens.Require(httpapi.ScopeIngest, a.postEvents()))
	mux.Handle("GET /v1/experiments/{key}/live", a.tokens.Require(httpapi.ScopeRead, a.liveResults()))
	mux.Handle("GET /v1/experiments", a.tokens.Require(httpapi.ScopeRead, a.experiments()))
	health.Register(mux)
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	return mux
}

type invalidEvent struct {
	Index  int    `json:"index"`
	Field  string `json:"field"`
	Reason string `json:"reason"`
}

// postResponse is every answer to a batch that could be read, 503 included:
// the ids are those of the valid events, in order, whether or not they were
// stored, so that a sender resends exactly those ids after a 503.
type postResponse struct {
	Error    string         `json:"error,omitempty"`   // on a 503: "unavailable"
	Message  string         `json:"message,omitempty"` // on a 503: why, and when to retry
	Accepted int            `json:"accepted"`
	Invalid  []invalidEvent `json:"invalid"`
	IDs      []string       `json:"ids"`
}

// postEvents accepts a JSON array or NDJSON of events, gzipped or not (the
// limit holds for the body as sent and as inflated). It answers 202 only
// after every valid event is stored in the raw stream; if any could not be,
// 503 with Retry-After and the ids (accepted 0), so a sender never believes
// a lost event was taken. A resend with those ids is always safe: what was
// stored counts once (Redis and ClickHouse dedup by user and id).
func (a *api) postEvents() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := httpapi.Body(w, r, eventsBodyLimit)
		if err != nil {
			httpapi.WriteError(w, r, err)
			return
		}
		valid, invalid, err := events.DecodeBatch(body, time.Now(), a.window, maxBatch)
		if err != nil {
			httpapi.WriteError(w, r, batchErr(err))
			return
		}
		resp := postResponse{Accepted: len(valid), Invalid: make([]invalidEvent, 0, len(invalid)), IDs: make([]string, len(valid))}
		for _, fe := range invalid {
			resp.Invalid = append(resp.Invalid, invalidEvent{Index: fe.Index, Field: fe.Field, Reason: fe.Reason})
			a.metrics.invalid.WithLabelValues(fe.Field).Inc()
		}
		for i := range valid {
			resp.IDs[i] = valid[i].ID
		}
		if err := a.publish(r.Context(), valid); err != nil {
			zerolog.Ctx(r.Context()).Error().Err(err).Int("events", len(valid)).Msg("cannot store events in the raw stream")
			resp.Error, resp.Accepted, resp.Message = "unavailable", 0, "the events could not be stored; resend them with these ids after Retry-After seconds"
			w.Header().Set("Retry-After", "1")
			if streamFull(err) {
				a.metrics.refused.Inc()
				resp.Message = "the raw stream is full (a consumer is behind); resend these events with these ids after Retry-After seconds"
				w.Header().Set("Retry-After", "5")
			}
			httpapi.WriteJSON(w, http.StatusServiceUnavailable, resp)
			return
		}
		for i := range valid {
			a.metrics.eventsIn.WithLabelValues(string(valid[i].Type)).Inc()
		}
		status := http.StatusAccepted
		if len(valid) == 0 && len(invalid) > 0 {
			status = http.StatusBadRequest // nothing taken: the sender must fix the batch
		}
		httpapi.WriteJSON(w, status, resp)
	})
}

// streamFull tells a publish refused because the stream reached its limits
// (interest retention with DiscardNew: its consumer is behind).
func streamFull(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "maximum bytes exceeded") || strings.Contains(msg, "maximum messages exceeded")
}

// batchErr maps DecodeBatch's whole-batch errors: a body over the limit is a
// 413, anything else the sender's mistake.
func batchErr(err error) error {
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return err
	}
	return fmt.Errorf("%w: %w", httpapi.ErrBadRequest, err)
}

// publish stores events in the raw stream with their ids as message ids and
// waits for every acknowledgement.
func (a *api) publish(ctx context.Context, evs []events.Event) error {
	ctx, cancel := context.WithTimeout(ctx, publishTimeout)
	defer cancel()
	return a.raw.StoreRaw(ctx, evs)
}

// experimentsResponse answers GET /v1/experiments: the experiments counted live.
type experimentsResponse struct {
	Experiments []string `json:"experiments"`
}

type liveResponse struct {
	Experiment string                       `json:"experiment"`
	Date       string                       `json:"date"`
	Results    map[string]live.VariantStats `json:"results"`
	Note       string                       `json:"note"`
}

// liveResults serves the live counters of one day (default: today, UTC).
func (a *api) liveResults() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := r.PathValue("key")
		if err := flags.CheckKey(key); err != nil {
			httpapi.WriteError(w, r, fmt.Errorf("%w: experiment %s", httpapi.ErrBadRequest, err))
			return
		}
		day := r.URL.Query().Get("date")
		if day == "" {
			day = time.Now().UTC().Format(time.DateOnly)
		}
		if _, err := time.Parse(time.DateOnly, day); err != nil {
			httpapi.WriteError(w, r, fmt.Errorf("%w: date %q is not YYYY-MM-DD", httpapi.ErrBadRequest, day))
			return
		}
		res, err := a.counters.Results(r.Context(), key, day)
		if err != nil {
			httpapi.WriteError(w, r, fmt.Errorf("%w: %w", httpapi.ErrUnavailable, err))
			return
		}
		httpapi.WriteJSON(w, http.StatusOK, liveResponse{Experiment: key, Date: day, Results: res,
			Note: "exposures, counts and values are exact; unique_users and unique_converters are HyperLogLog estimates (about 0.8% error), and conversion_rate (percent) is made from them; the aggregator's report has exact figures"})
	})
}

func (a *api) experiments() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		names, err := a.counters.Experiments(r.Context())
		if err != nil {
			httpapi.WriteError(w, r, fmt.Errorf("%w: %w", httpapi.ErrUnavailable, err))
			return
		}
		httpapi.WriteJSON(w, http.StatusOK, experimentsResponse{Experiments: names})
	})
}
