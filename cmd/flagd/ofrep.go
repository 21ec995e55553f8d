package main

import (
	"encoding/hex"
	"encoding/json"
	"hash/fnv"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/flagstream/flagstream/internal/httpapi"
	"github.com/flagstream/flagstream/pkg/flags"
)

// OFREP, as the OpenFeature Remote Evaluation Protocol (service/openapi.yaml,
// v0.3) gives it:
//   - success: {"key","value","reason","variant","metadata"}; value is the
//     boolean enabled for a flag without variants and the variant name for a
//     flag with variants. An off flag with variants has no value at all
//     (ADR 0006, code-default deferral): the SDK returns the caller's default.
//   - failures: {"key","errorCode","errorDetails"}: 404 FLAG_NOT_FOUND; 400
//     PARSE_ERROR, INVALID_CONTEXT, TARGETING_KEY_MISSING; 401/403 for auth;
//     500 {"errorDetails"} (GENERAL in the bulk shape).
//   - metadata carries the flag version and the flag's scalar metadata.

// ofrepRequest is the body of both OFREP routes.
type ofrepRequest struct {
	Context map[string]any `json:"context"`
}

type ofrepError struct {
	Key          string `json:"key,omitempty"`
	ErrorCode    string `json:"errorCode"`
	ErrorDetails string `json:"errorDetails"`
}

// ofrepFail answers an OFREP error in OFREP's shape.
func ofrepFail(w http.ResponseWriter, status int, key, code, details string) {
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="flagstream"`)
	}
	httpapi.WriteJSON(w, status, ofrepError{Key: key, ErrorCode: code, ErrorDetails: details})
}

// ofrepPrelude does what both routes do first: auth, readiness, body. It
// returns ok false after answering.
func (a *api) ofrepPrelude(w http.ResponseWriter, r *http.Request, key string) (*flags.Client, flags.EvalContext, bool) {
	var ec flags.EvalContext
	if err := a.tokens.Check(r, httpapi.ScopeEvaluate); err != nil {
		status, _ := httpapi.Status(err)
		ofrepFail(w, status, key, "GENERAL", err.Error())
		return nil, ec, false
	}
	c := a.client.Load()
	if c == nil {
		w.Header().Set("Retry-After", "1")
		ofrepFail(w, http.StatusServiceUnavailable, key, "GENERAL", errNotLoaded.Error())
		return nil, ec, false
	}
	req, err := httpapi.DecodeContext(w, r, evalBodyLimit, func(ctx map[string]any) ofrepRequest { return ofrepRequest{Context: ctx} })
	if err != nil {
		status, _ := httpapi.Status(err)
		ofrepFail(w, status, key, "PARSE_ERROR", err.Error())
		return nil, ec, false
	}
	ec, err = evalContext(req.Context, "targetingKey")
	if err != nil {
		ofrepFail(w, http.StatusBadRequest, key, "INVALID_CONTEXT", err.Error())
		return nil, ec, false
	}
	return c, ec, true
}

func (a *api) ofrepOne() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		key := r.PathValue("key")
		c, ec, ok := a.ofrepPrelude(w, r, key)
		if !ok {
			return
		}
		// One snapshot for the flag and its result: a flag created or
		// changed between two lookups would pair a nil or stale flag with
		// the result.
		f, res := singleEvaluate(c, r, key, ec)
		a.metrics.evaluated(f, res, start)
		switch res.ErrorCode {
		case flags.ErrorFlagNotFound:
			ofrepFail(w, http.StatusNotFound, key, string(flags.ErrorFlagNotFound), "flag "+strconv.Quote(key)+" was not found")
			return
		case flags.ErrorTargetingKeyMissing:
			ofrepFail(w, http.StatusBadRequest, key, string(flags.ErrorTargetingKeyMissing),
				"flag "+strconv.Quote(key)+" rolls out by percentage and needs context.targetingKey")
			return
		}
		writeTagged(w, r, appendSuccess(make([]byte, 0, 192), f, res))
	})
}

func (a *api) ofrepBulk() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		c, ec, ok := a.ofrepPrelude(w, r, "")
		if !ok {
			return
		}
		// One snapshot for the whole request: every flag listed is there,
		// and the answer is the flags as they were at one moment.
		view := c.View()
		keys := view.Keys()
		b := make([]byte, 0, 64+128*len(keys))
		b = append(b, `{"flags":[`...)
		for i, key := range keys {
			if i > 0 {
				b = append(b, ',')
			}
			f, res := a.bulkEvaluate(view, key, ec)
			a.metrics.evaluated(f, res, start)
			switch res.ErrorCode {
			case flags.ErrorFlagNotFound: // not with keys and flags from one view; never a nil flag below
				b = appendError(b, key, string(flags.ErrorFlagNotFound), "flag was not found")
			case flags.ErrorTargetingKeyMissing:
				b = appendError(b, key, string(flags.ErrorTargetingKeyMissing), "flag rolls out by percentage and needs context.targetingKey")
			default:
				b = appendSuccess(b, f, res)
			}
		}
		b = append(b, ']')
		b = a.streams.appendEventStreams(b, r, ec) // deterministic per context and token: the ETag stays stable
		b = append(b, '}')
		writeTagged(w, r, b)
	})
}

// writeTagged sends body with an ETag that hashes the body itself, so a 304
// for one context is never another context's answer.
func writeTagged(w http.ResponseWriter, r *http.Request, body []byte) {
	h := fnv.New64a()
	_, _ = h.Write(body)
	var sum [8]byte
	etag := `"` + hex.EncodeToString(h.Sum(sum[:0])) + `"`
	w.Header()["Etag"] = []string{etag}
	if inm := r.Header.Get("If-None-Match"); inm != "" && etagMatches(inm, etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	httpapi.WriteRaw(w, http.StatusOK, body)
}

func etagMatches(header, etag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == etag || t == "*" {
			return true
		}
	}
	return false
}

// appendSuccess encodes one evaluation by hand: this is the hot path, and the
// flag key and variant names are validated to need no JSON escaping (a key
// read from Redis that fails validation is escaped anyway).
func appendSuccess(b []byte, f *flags.Flag, r flags.Result) []byte {
	b = append(b, `{"key":`...)
	b = appendString(b, f.Key)
	switch {
	case len(f.Variants) == 0:
		b = append(b, `,"value":`...)
		b = strconv.AppendBool(b, r.Enabled)
	case r.Enabled:
		b = append(b, `,"value":`...)
		b = appendString(b, r.Variant)
	}
	b = append(b, `,"reason":"`...)
	b = append(b, r.Reason...)
	b = append(b, '"')
	if r.Variant != "" {
		b = append(b, `,"variant":`...)
		b = appendString(b, r.Variant)
	}
	b = append(b, `,"metadata":{"version":`...)
	b = strconv.AppendInt(b, r.Version, 10)
	b = appendScalarMetadata(b, f.Metadata)
	return append(b, `}}`...)
}

func appendError(b []byte, key, code, details string) []byte {
	enc, _ := json.Marshal(ofrepError{Key: key, ErrorCode: code, ErrorDetails: details})
	return append(b, enc...)
}

// appendString writes s as a JSON string, escaping only when it must.
func appendString(b []byte, s string) []byte {
	if flags.ValidKey(s) {
		b = append(b, '"')
		b = append(b, s...)
		return append(b, '"')
	}
	enc, _ := json.Marshal(s)
	return append(b, enc...)
}

// appendScalarMetadata adds the flag's metadata entries that OFREP's flag
// metadata allows (strings, numbers, booleans), in key order, after version.
func appendScalarMetadata(b []byte, md map[string]any) []byte {
	if len(md) == 0 {
		return b
	}
	keys := make([]string, 0, len(md))
	for k := range md {
		if k != "version" {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		switch v := md[k].(type) {
		case string, bool, float64, json.Number:
			enc, err := json.Marshal(v)
			if err != nil {
				continue
			}
			b = append(b, ',')
			b = appendString(b, k)
			b = append(b, ':')
			b = append(b, enc...)
		}
	}
	return b
}
