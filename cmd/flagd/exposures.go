package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/flagstream/flagstream/internal/httpapi"
	"github.com/flagstream/flagstream/pkg/events"
	"github.com/flagstream/flagstream/pkg/flags"
)

// Limits of the exposure and tracking routes.
const (
	exposureBodyLimit = 256 << 10
	maxExposureFlags  = 1000
	trackTimeout      = 5 * time.Second
)

// exposureEvent is the exposure event of an evaluation at now: what every
// exposure flagd publishes looks like, from an evaluation or from
// POST /v1/exposures.
func exposureEvent(e flags.Exposure, now time.Time) events.Event {
	return events.Event{Type: events.TypeExposure, Experiment: e.Flag, Variant: e.Variant, UserID: e.UserID,
		FlagVersion: e.Version, Weights: e.Weights, Control: e.Control, TS: now.UTC()}
}

func withID(e events.Event, id string) events.Event {
	e.ID = id // "": the publisher gives it one
	return e
}

// exposureRequest is one context and the flags an app used with it.
type exposureRequest struct {
	Context map[string]any `json:"context"`
	Flags   []struct {
		Key     string `json:"key"`
		Version *int64 `json:"version"` // the version the app evaluated; optional
		// TS is when the app used the flag (optional; default now): an app
		// that batches, or was offline, reports later than it showed. Within
		// flagd's --max-event-age and --max-event-future, as ingest's events.
		TS *string `json:"ts"`
		// ID is the exposure's event id (optional; default a new one): an app
		// that sends one makes its retries safe.
		ID string `json:"id"`
		// A variant the app sends is not read: flagd recomputes it.
	} `json:"flags"`
}

// Exposure statuses, one per flag of a request.
const (
	exposurePublished  = "published"   // queued for the raw stream
	exposureNotExposed = "not_exposed" // the flag puts this context in no variant
	exposureStale      = "stale"       // the app evaluated another version: nothing published
	exposureNotFound   = "not_found"
	exposureDropped    = "dropped" // the exposure buffer is full: retry later
)

type exposureResult struct {
	Key     string `json:"key"`
	Status  string `json:"status"`
	Variant string `json:"variant,omitempty"`
	Version int64  `json:"version,omitempty"`
}

// exposures is POST /v1/exposures: an app reports the flags it used (web and
// mobile apps fetch every flag in bulk, which exposes nobody, and show only
// some). For each flag flagd evaluates the context again, from one snapshot,
// and publishes the exposure exactly as a single evaluation would; a variant
// sent by the app is never trusted. A flag whose version differs from the
// one the app says it evaluated publishes nothing and answers "stale": the
// app showed what the flag said before, which flagd can no longer compute,
// and a guess would put the user into the wrong arm of the report. The app
// refetches (its event stream tells it to) and reports the next use.
func (a *api) exposures() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := a.readyClient()
		var reqs []exposureRequest
		if err == nil {
			reqs, err = decodeExposures(w, r)
		}
		if err != nil {
			httpapi.WriteError(w, r, err)
			return
		}
		view := c.View()
		now := time.Now()
		ecs := make([]flags.EvalContext, len(reqs))
		at := make([][]time.Time, len(reqs))
		for i, req := range reqs { // every item checked before anything is published
			ecs[i], err = evalContext(req.Context, "targetingKey")
			at[i] = make([]time.Time, len(req.Flags))
			for j := 0; err == nil && j < len(req.Flags); j++ {
				at[i][j], err = a.usedAt(req.Flags[j].TS, req.Flags[j].ID, now, j)
			}
			if err != nil {
				httpapi.WriteError(w, r, fmt.Errorf("%w: item %d: %w", httpapi.ErrBadRequest, i, err))
				return
			}
		}
		var results []exposureResult
		for i, req := range reqs {
			for j, fl := range req.Flags {
				results = append(results, a.expose(view, fl.Key, fl.Version, fl.ID, ecs[i], at[i][j]))
			}
		}
		httpapi.WriteJSON(w, http.StatusAccepted, map[string]any{"results": results})
	})
}

// expose evaluates one used flag and publishes its exposure.
func (a *api) expose(view flags.View, key string, version *int64, id string, ec flags.EvalContext, at time.Time) exposureResult {
	f, res := view.Peek(key, ec)
	if f == nil {
		return exposureResult{Key: key, Status: exposureNotFound}
	}
	out := exposureResult{Key: key, Version: f.Version}
	if version != nil && *version != f.Version {
		out.Status = exposureStale
		a.metrics.exposureRequests.WithLabelValues(exposureStale).Inc()
		return out
	}
	e, ok := flags.NewExposure(f, res, ec.UserID)
	switch {
	case !ok:
		out.Status = exposureNotExposed
	case a.publish(withID(exposureEvent(e, at), id)):
		out.Status, out.Variant = exposurePublished, e.Variant
	default:
		out.Status = exposureDropped
	}
	a.metrics.exposureRequests.WithLabelValues(out.Status).Inc()
	return out
}

// usedAt is the time an app says it used flag j (now when it says none),
// checked against flagd's window as ingest checks an event's ts; the
// exposure's id, if the app gave one, is checked too.
func (a *api) usedAt(ts *string, id string, now time.Time, j int) (time.Time, error) {
	t := now
	if ts != nil {
		var err error
		if t, err = time.Parse(time.RFC3339Nano, *ts); err != nil {
			return now, fmt.Errorf("flags[%d].ts is not an RFC 3339 time such as 2026-11-24T10:00:00Z", j)
		}
	}
	probe := events.Event{ID: id, Type: events.TypeExposure, Experiment: "x", Variant: "x", UserID: "x", TS: t.UTC()}
	var fe *events.FieldError
	if err := probe.Validate(now, a.window); errors.As(err, &fe) {
		return now, fmt.Errorf("flags[%d].%s %s", j, fe.Field, fe.Reason)
	}
	return t.UTC(), nil
}

// decodeExposures reads one exposure request or a JSON array of them, and
// checks the keys and the count.
func decodeExposures(w http.ResponseWriter, r *http.Request) ([]exposureRequest, error) {
	raw, err := httpapi.Decode[json.RawMessage](w, r, exposureBodyLimit)
	if err != nil {
		return nil, err
	}
	var reqs []exposureRequest
	if t := bytes.TrimLeft(raw, " \t\r\n"); len(t) > 0 && t[0] == '[' {
		err = json.Unmarshal(raw, &reqs)
	} else {
		reqs = make([]exposureRequest, 1)
		err = json.Unmarshal(raw, &reqs[0])
	}
	if err != nil {
		return nil, httpapi.DecodeError(err)
	}
	n := 0
	for i, req := range reqs {
		if len(req.Flags) == 0 {
			return nil, fmt.Errorf("%w: item %d: flags is empty; list the flags the app used", httpapi.ErrBadRequest, i)
		}
		for j, fl := range req.Flags {
			if err := flags.CheckKey(fl.Key); err != nil {
				return nil, fmt.Errorf("%w: item %d: flags[%d].key %w", httpapi.ErrBadRequest, i, j, err)
			}
		}
		n += len(req.Flags)
	}
	if n > maxExposureFlags {
		return nil, fmt.Errorf("%w: %d flags in one request; the limit is %d", httpapi.ErrBadRequest, n, maxExposureFlags)
	}
	return reqs, nil
}

// trackRequest is an OpenFeature tracking event, as the SDKs' Track sends it
// (flagstream's extension of OFREP, which has no tracking route yet).
type trackRequest struct {
	Name    string         `json:"trackingEventName"`
	Context map[string]any `json:"context"`
	Details struct {
		Value      *float64 `json:"value"`
		ID         string   `json:"id"`
		Experiment string   `json:"experiment"`
	} `json:"trackingEventDetails"`
}

// track is POST /v1/track: an OpenFeature tracking event becomes a
// conversion (conversion_type = the event's name, user = targetingKey,
// value, and the event's id when it has one), stored in the raw stream before
// the answer, so an app needs one SDK and one credential. Unlike exposures,
// which are best effort with counted drops, a conversion acknowledged here
// is durable: it is published and its acknowledgement awaited, as ingest's
// POST /v1/events does.
func (a *api) track() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req, err := httpapi.Decode[trackRequest](w, r, evalBodyLimit)
		if err != nil {
			httpapi.WriteError(w, r, err)
			return
		}
		ec, err := evalContext(req.Context, "targetingKey")
		if err != nil {
			httpapi.WriteError(w, r, fmt.Errorf("%w: %w", httpapi.ErrBadRequest, err))
			return
		}
		e := events.Event{ID: req.Details.ID, Type: events.TypeConversion, Experiment: req.Details.Experiment,
			UserID: ec.UserID, ConversionType: req.Name, Value: req.Details.Value, TS: time.Now().UTC()}
		if e.ID == "" {
			e.ID = events.NewID()
		}
		if err := e.Validate(e.TS, events.Window{}); err != nil {
			httpapi.WriteError(w, r, fmt.Errorf("%w: %w", httpapi.ErrBadRequest, trackFieldError(err)))
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), trackTimeout)
		err = a.storeRaw(ctx, []events.Event{e})
		cancel()
		if err != nil {
			httpapi.WriteError(w, r, fmt.Errorf("%w: store the conversion: %w", httpapi.ErrUnavailable, err))
			return
		}
		a.metrics.tracked.Inc()
		httpapi.WriteJSON(w, http.StatusAccepted, map[string]string{"id": e.ID})
	})
}

// trackFieldError names the tracking event's fields where validation named
// the conversion's.
func trackFieldError(err error) error {
	var fe *events.FieldError
	if !errors.As(err, &fe) {
		return err
	}
	names := map[string]string{"conversion_type": "trackingEventName", "user_id": "context.targetingKey",
		"value": "trackingEventDetails.value", "id": "trackingEventDetails.id", "experiment": "trackingEventDetails.experiment"}
	if n, ok := names[fe.Field]; ok {
		return fmt.Errorf("%s %s", n, fe.Reason)
	}
	return err
}
