package main

import (
	"fmt"
	"net/http"
	"time"

	"github.com/flagstream/flagstream/internal/httpapi"
	"github.com/flagstream/flagstream/pkg/flags"
)

// The native evaluation API: the engine's result as it is.

type evaluateRequest struct {
	Flag    string         `json:"flag"`
	Context map[string]any `json:"context"`
}

type evaluation struct {
	Flag      string       `json:"flag"`
	Enabled   bool         `json:"enabled"`
	Variant   *string      `json:"variant"` // null when none
	Reason    flags.Reason `json:"reason"`
	Version   int64        `json:"version"`
	ErrorCode string       `json:"error_code,omitempty"`
}

func toEvaluation(key string, r flags.Result) evaluation {
	e := evaluation{Flag: key, Enabled: r.Enabled, Reason: r.Reason, Version: r.Version, ErrorCode: string(r.ErrorCode)}
	if r.Variant != "" {
		v := r.Variant
		e.Variant = &v
	}
	return e
}

func (a *api) readyClient() (*flags.Client, error) {
	c := a.client.Load()
	if c == nil {
		return nil, fmt.Errorf("%w: %w", httpapi.ErrUnavailable, errNotLoaded)
	}
	return c, nil
}

func (a *api) evaluateOne() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		c, err := a.readyClient()
		var req evaluateRequest
		if err == nil {
			req, err = httpapi.DecodeFlagContext(w, r, evalBodyLimit, func(flag string, ctx map[string]any) evaluateRequest {
				return evaluateRequest{Flag: flag, Context: ctx}
			})
		}
		if err == nil && req.Flag == "" {
			err = fmt.Errorf("%w: flag is required", httpapi.ErrBadRequest)
		}
		var ec flags.EvalContext
		if err == nil {
			ec, err = nativeContext(req.Context)
		}
		if err != nil {
			httpapi.WriteError(w, r, err)
			return
		}
		f, res := singleEvaluate(c, r, req.Flag, ec)
		a.metrics.evaluated(f, res, start)
		if res.ErrorCode == flags.ErrorFlagNotFound {
			httpapi.WriteError(w, r, fmt.Errorf("flag %q: %w", req.Flag, flags.ErrNotFound))
			return
		}
		httpapi.WriteJSON(w, http.StatusOK, toEvaluation(req.Flag, res))
	})
}

type evaluateAllRequest struct {
	Context map[string]any `json:"context"`
}

func (a *api) evaluateAll() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		c, err := a.readyClient()
		var req evaluateAllRequest
		if err == nil {
			req, err = httpapi.DecodeContext(w, r, evalBodyLimit, func(ctx map[string]any) evaluateAllRequest { return evaluateAllRequest{Context: ctx} })
		}
		var ec flags.EvalContext
		if err == nil {
			ec, err = nativeContext(req.Context)
		}
		if err != nil {
			httpapi.WriteError(w, r, err)
			return
		}
		view := c.View() // one snapshot for the whole answer
		keys := view.Keys()
		out := make([]evaluation, 0, len(keys))
		for _, key := range keys {
			f, res := a.bulkEvaluate(view, key, ec)
			a.metrics.evaluated(f, res, start)
			if res.ErrorCode != flags.ErrorFlagNotFound {
				out = append(out, toEvaluation(key, res))
			}
		}
		httpapi.WriteJSON(w, http.StatusOK, map[string]any{"flags": out})
	})
}

func nativeContext(raw map[string]any) (flags.EvalContext, error) {
	ec, err := evalContext(raw, "user_id")
	if err != nil {
		return ec, fmt.Errorf("%w: %w", httpapi.ErrBadRequest, err)
	}
	return ec, nil
}

// bulkEvaluate evaluates one flag of a bulk request. A bulk answer holds
// every flag, most of which the app will never show: exposing the user to
// all of them would put users who never saw a change into its report and
// shrink every effect toward zero. So bulk evaluation exposes nobody unless
// flagd runs with --bulk-exposures; apps report what they use through
// POST /v1/exposures.
func (a *api) bulkEvaluate(view flags.View, key string, ec flags.EvalContext) (*flags.Flag, flags.Result) {
	if a.bulkExposures {
		return view.Evaluate(key, ec)
	}
	return view.Peek(key, ec)
}

// exposureHeader, set to "on-use" on a single evaluation, asks flagd not to
// publish its exposure: the app reports the flags it uses itself (the Go
// OpenFeature hook in pkg/ofhook does), so one flagd serves both server-side
// apps that rely on evaluation exposures and apps that expose on use,
// without counting anyone twice.
const exposureHeader = "Flagstream-Exposure"

// singleEvaluate evaluates one flag from one snapshot (the flag and its
// result agree), exposing the user unless the request asks for exposure on
// use.
func singleEvaluate(c *flags.Client, r *http.Request, key string, ec flags.EvalContext) (*flags.Flag, flags.Result) {
	if r.Header.Get(exposureHeader) == "on-use" {
		return c.View().Peek(key, ec)
	}
	return c.EvaluateFlag(key, ec)
}
