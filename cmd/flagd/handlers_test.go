package main

import (
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/flagstream/flagstream/internal/httpapi"
	"github.com/flagstream/flagstream/internal/httpapi/httpapitest"
	"github.com/flagstream/flagstream/pkg/events"
	"github.com/flagstream/flagstream/pkg/flags"
)

// Handler tests: routing, auth, validation and the shape of every answer,
// through the real mux (api.handler) with the store, the flags and the
// event seams in memory (handlers_fakes_test.go). They need no server and
// no environment; what Redis, NATS and several flagd instances do together
// stays with the integration tests.

// Every route answers through its own handler (a JSON answer, not the mux's
// text 404), another method on its path is a 405 naming the allowed one, and
// paths no route has are 404s.
func TestHandlerRoutes(t *testing.T) {
	ofrepBody := `{"context":{"targetingKey":"u"}}`
	routes := []struct {
		method, path, body string
		status             int
	}{
		{"POST", "/ofrep/v1/evaluate/flags/new_checkout_flow", ofrepBody, 200},
		{"POST", "/ofrep/v1/evaluate/flags", ofrepBody, 200},
		{"POST", "/v1/evaluate", `{"flag":"new_checkout_flow","context":{"user_id":"u"}}`, 200},
		{"POST", "/v1/evaluate/all", `{"context":{"user_id":"u"}}`, 200},
		{"POST", "/v1/exposures", `{"context":{"targetingKey":"u"},"flags":[{"key":"pricing_page_experiment"}]}`, 202},
		{"POST", "/v1/track", `{"trackingEventName":"purchase","context":{"targetingKey":"u"}}`, 202},
		{"GET", "/v1/flags", "", 200},
		{"GET", "/v1/flags/new_checkout_flow", "", 200},
		{"PUT", "/v1/flags/new_checkout_flow", `{"status":"disabled"}`, 200},
		{"DELETE", "/v1/flags/new_checkout_flow", "", 204},
		{"GET", "/v1/flags/dark_mode/rollout", "", 200},
		{"PUT", "/v1/flags/dark_mode/rollout", `{"stages":[{"percentage":10},{"percentage":50}]}`, 200},
		{"POST", "/v1/flags/dark_mode/rollout/advance", "", 200},
		{"POST", "/v1/flags/dark_mode/rollout/rollback", "", 200},
		{"POST", "/api/admin/flags", `{"name":"seeded","status":"enabled"}`, 200},
		{"GET", "/api/admin/flags", "", 200},
		{"DELETE", "/api/admin/flags/new_checkout_flow", "", 200},
		{"GET", streamPath, "", 400}, // no ctx in the query: the stream handler's INVALID_CONTEXT
		{"GET", "/healthz", "", 200},
		{"GET", "/readyz", "", 200},
	}
	for _, rt := range routes {
		t.Run(rt.method+" "+rt.path, func(t *testing.T) {
			h := newHarness(t)
			h.store.rollouts["dark_mode"] = &flags.Rollout{Flag: "dark_mode", Status: flags.RolloutActive,
				Stages: []flags.Stage{{Percentage: new(25.0)}, {Percentage: new(50.0)}}}
			rec := h.do(t, rt.method, rt.path, rt.body)
			if rec.Code != rt.status {
				t.Fatalf("= %d %s, want %d", rec.Code, rec.Body, rt.status)
			}
			if ct := rec.Header().Get("Content-Type"); rec.Code != http.StatusNoContent && ct != "application/json" {
				t.Errorf("Content-Type %q, want application/json (%s)", ct, rec.Body)
			}
			rec = h.do(t, "PATCH", rt.path, rt.body)
			if rec.Code != http.StatusMethodNotAllowed || !strings.Contains(rec.Header().Get("Allow"), rt.method) {
				t.Errorf("PATCH = %d, Allow %q; want 405 allowing %s", rec.Code, rec.Header().Get("Allow"), rt.method)
			}
		})
	}

	h := newHarness(t)
	if rec := h.do(t, "GET", "/metrics", ""); rec.Code != 200 || !strings.Contains(rec.Body.String(), "flagstream_flagd_flag_problems_total") {
		t.Errorf("GET /metrics = %d, want 200 with flagd's series", rec.Code)
	}
	for _, path := range []string{"/v1/nope", "/ofrep/v1/evaluate", "/v1/flags/a/b", "/api/admin/flags/a/b", "/"} {
		if rec := h.do(t, "POST", path, "{}"); rec.Code != http.StatusNotFound {
			t.Errorf("POST %s = %d %s, want 404", path, rec.Code, rec.Body)
		}
	}
	// A route's method with another's path is no match either.
	if rec := h.do(t, "GET", "/v1/evaluate", ""); rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("GET /v1/evaluate = %d, want 405", rec.Code)
	}
}

// With tokens, the native routes answer 401 (no or unknown token) and 403
// (a token without the route's scope) in the native error shape; admin
// implies every scope. OFREP answers the same failures in its own shape,
// event streams included; health stays open.
func TestHandlerAuth(t *testing.T) {
	const (
		adminTok = "admin-secret-token-aaaa"
		evalTok  = "evaluate-secret-token-bbbb"
		readTok  = "read-secret-token-cccc"
	)
	tokens, err := httpapi.LoadTokens(writeTokens(t, "admin "+adminTok, "evaluate "+evalTok, "read "+readTok))
	if err != nil {
		t.Fatal(err)
	}
	h := newHarnessWithTokens(t, tokens)
	bearer := func(tok string) []string { return []string{"Authorization", "Bearer " + tok} }
	eval := `{"flag":"new_checkout_flow","context":{"user_id":"u"}}`
	for _, tc := range []struct {
		method, path, body string
		headers            []string
		status             int
	}{
		{"PUT", "/v1/flags/f", `{"status":"enabled"}`, nil, 401},
		{"PUT", "/v1/flags/f", `{"status":"enabled"}`, bearer("unknown-token-xxxxxxxx"), 401},
		{"PUT", "/v1/flags/f", `{"status":"enabled"}`, bearer(evalTok), 403},
		{"PUT", "/v1/flags/f", `{"status":"enabled"}`, bearer(readTok), 403},
		{"PUT", "/v1/flags/f", `{"status":"enabled"}`, bearer(adminTok), 200},
		{"DELETE", "/v1/flags/f", "", bearer(evalTok), 403},
		{"POST", "/v1/flags/f/rollout/advance", "", bearer(readTok), 403},
		{"GET", "/v1/flags", "", nil, 401},
		{"GET", "/v1/flags", "", bearer(evalTok), 403},
		{"GET", "/v1/flags", "", bearer(readTok), 200},
		{"GET", "/api/admin/flags", "", bearer(adminTok), 200},
		{"POST", "/api/admin/flags", `{"name":"g","status":"enabled"}`, bearer(readTok), 403},
		{"POST", "/v1/evaluate", eval, nil, 401},
		{"POST", "/v1/evaluate", eval, bearer(readTok), 403},
		{"POST", "/v1/evaluate", eval, bearer(evalTok), 200},
		{"POST", "/v1/evaluate", eval, []string{"X-API-Key", evalTok}, 200},
		{"POST", "/v1/evaluate/all", `{}`, bearer(readTok), 403},
		{"POST", "/v1/exposures", `{"context":{"targetingKey":"u"},"flags":[{"key":"dark_mode"}]}`, nil, 401},
		{"POST", "/v1/track", `{"trackingEventName":"purchase","context":{"targetingKey":"u"}}`, bearer(readTok), 403},
	} {
		rec := h.do(t, tc.method, tc.path, tc.body, tc.headers...)
		if rec.Code != tc.status {
			t.Errorf("%s %s with %v = %d %s, want %d", tc.method, tc.path, tc.headers, rec.Code, rec.Body, tc.status)
			continue
		}
		if tc.status < 400 {
			continue
		}
		got := httpapitest.Decode[httpapi.ErrorBody](t, rec)
		want := map[int]string{401: "unauthorized", 403: "forbidden"}[tc.status]
		if got.Error != want || got.Message == "" {
			t.Errorf("%s %s with %v = %+v, want error %q with a message", tc.method, tc.path, tc.headers, got, want)
		}
		if auth := rec.Header().Get("WWW-Authenticate"); (tc.status == 401) != (auth != "") {
			t.Errorf("%s %s: %d with WWW-Authenticate %q", tc.method, tc.path, tc.status, auth)
		}
	}

	ofrepBody := `{"context":{"targetingKey":"u"}}`
	for _, tc := range []struct {
		path    string
		headers []string
		status  int
		key     string
	}{
		{"/ofrep/v1/evaluate/flags/new_checkout_flow", nil, 401, "new_checkout_flow"},
		{"/ofrep/v1/evaluate/flags/new_checkout_flow", []string{"X-API-Key", "unknown-token-xxxxxxxx"}, 401, "new_checkout_flow"},
		{"/ofrep/v1/evaluate/flags/new_checkout_flow", bearer(readTok), 403, "new_checkout_flow"},
		{"/ofrep/v1/evaluate/flags", nil, 401, ""},
		{"/ofrep/v1/evaluate/flags", bearer(readTok), 403, ""},
	} {
		rec := h.do(t, "POST", tc.path, ofrepBody, tc.headers...)
		if rec.Code != tc.status {
			t.Errorf("POST %s with %v = %d %s, want %d", tc.path, tc.headers, rec.Code, rec.Body, tc.status)
			continue
		}
		got := httpapitest.Decode[ofrepError](t, rec)
		if got.ErrorCode != "GENERAL" || got.Key != tc.key || got.ErrorDetails == "" {
			t.Errorf("POST %s with %v = %+v, want GENERAL with key %q and details", tc.path, tc.headers, got, tc.key)
		}
		if auth := rec.Header().Get("WWW-Authenticate"); (tc.status == 401) != (auth != "") {
			t.Errorf("POST %s: %d with WWW-Authenticate %q", tc.path, tc.status, auth)
		}
	}
	if got := expect[ofrepAnswer](t, h, 200, "POST", "/ofrep/v1/evaluate/flags/new_checkout_flow", ofrepBody, "X-API-Key", evalTok); got.Key != "new_checkout_flow" {
		t.Errorf("OFREP with an evaluate token = %+v", got)
	}
	// The bulk answer's stream URL carries the token's signature; without
	// it the stream refuses in OFREP's shape.
	bulk := expect[ofrepBulkAnswer](t, h, 200, "POST", "/ofrep/v1/evaluate/flags", ofrepBody, bearer(adminTok)...)
	if len(bulk.EventStreams) != 1 || !strings.Contains(bulk.EventStreams[0].Endpoint.RequestURI, "&sig=") {
		t.Fatalf("event streams %+v, want one signed URL", bulk.EventStreams)
	}
	unsigned, _, _ := strings.Cut(bulk.EventStreams[0].Endpoint.RequestURI, "&sig=")
	if got := expect[ofrepError](t, h, 401, "GET", unsigned, ""); got.ErrorCode != "GENERAL" || got.ErrorDetails == "" {
		t.Errorf("unsigned stream URL = %+v, want a GENERAL 401", got)
	}

	if got := expect[healthAnswer](t, h, 200, "GET", "/healthz", ""); got.Status != "ok" {
		t.Errorf("/healthz = %+v", got)
	}
	if got := expect[readyAnswer](t, h, 200, "GET", "/readyz", ""); !got.Ready {
		t.Errorf("/readyz = %+v", got)
	}
}

// PUT /v1/flags/{key} refuses a bad definition with a 400 that names the
// field, a body over the limit with 413, and an If-Match that is not a
// version with 400; one that names another version is a 409.
func TestHandlerFlagValidation(t *testing.T) {
	h := newHarness(t)
	for _, tc := range []struct{ body, want string }{
		{`{"status":"enabled","percentage":101}`, "percentage"},
		{`{"status":"enabled","variants":{"a":60,"b":30}}`, "variants"},
		{`{"status":"enabled","rules":[{"attribute":"plan","operator":"like","value":"x"}]}`, "rules[0].operator"},
		{`{"status":"sometimes"}`, "status"},
		{`{"status":"enabled","variant_hash":"peppered"}`, "variant_hash"},
		{`{"status":"enabled","percentage":"5"}`, "percentage"},
		{`{"status":"enabled","colour":"red"}`, "colour"},
		{`{"key":"other","status":"enabled"}`, "key"},
		{`{"status": "enabled",`, "malformed JSON"},
		{``, "empty body"},
		{`{"status":"enabled"} {}`, "trailing"},
	} {
		got := expect[httpapi.ErrorBody](t, h, 400, "PUT", "/v1/flags/pricing_page_experiment", tc.body)
		if got.Error != "invalid" || !strings.Contains(got.Message, tc.want) {
			t.Errorf("PUT %s = %+v, want invalid naming %q", tc.body, got, tc.want)
		}
	}
	if got := expect[httpapi.ErrorBody](t, h, 400, "PUT", "/v1/flags/bad:key", `{"status":"enabled"}`); !strings.Contains(got.Message, "key") {
		t.Errorf("PUT with a colon in the key = %+v, want the key named", got)
	}
	big := `{"status":"enabled","description":"` + strings.Repeat("x", flagBodyLimit) + `"}`
	if got := expect[httpapi.ErrorBody](t, h, 413, "PUT", "/v1/flags/big", big); got.Error != "too_large" {
		t.Errorf("PUT over the limit = %+v, want too_large", got)
	}
	if got := expect[httpapi.ErrorBody](t, h, 400, "PUT", "/v1/flags/dark_mode", `{"status":"enabled"}`, "If-Match", `"two"`); !strings.Contains(got.Message, "If-Match") {
		t.Errorf("If-Match two = %+v, want If-Match named", got)
	}
	if got := expect[httpapi.ErrorBody](t, h, 409, "PUT", "/v1/flags/dark_mode", `{"status":"enabled"}`, "If-Match", `"1"`); got.Error != "conflict" {
		t.Errorf("If-Match of an old version = %+v, want conflict", got)
	}
	if got := expect[httpapi.ErrorBody](t, h, 409, "PUT", "/v1/flags/dark_mode", `{"status":"enabled"}`, "If-Match", `"0"`); got.Error != "conflict" {
		t.Errorf("If-Match 0 (create only) on an existing flag = %+v, want conflict", got)
	}
	if got := expect[flags.Flag](t, h, 200, "PUT", "/v1/flags/dark_mode", `{"status":"enabled"}`, "If-Match", `"2"`); got.Version != 3 {
		t.Errorf("If-Match of the current version wrote version %d, want 3", got.Version)
	}
	if got := expect[flags.Flag](t, h, 200, "PUT", "/v1/flags/brand_new", `{"status":"enabled"}`, "If-Match", "0"); got.Version != 1 {
		t.Errorf("If-Match 0 created version %d, want 1", got.Version)
	}
	for _, key := range []string{"nope", "bad:key"} {
		if got := expect[httpapi.ErrorBody](t, h, 404, "GET", "/v1/flags/"+key, ""); got.Error != "not_found" {
			t.Errorf("GET /v1/flags/%s = %+v, want not_found", key, got)
		}
	}
}

// The evaluation routes refuse what they cannot evaluate with 400s naming
// the problem, and bodies over 64 KiB with 413.
func TestHandlerEvaluationValidation(t *testing.T) {
	h := newHarness(t)
	for _, tc := range []struct{ path, body, want string }{
		{"/v1/evaluate", `{"context":{"user_id":"u"}}`, "flag is required"},
		{"/v1/evaluate", `{"flag":"dark_mode","context":{"user_id":5}}`, "user_id must be a string"},
		{"/v1/evaluate", `{"flag":"dark_mode","context":{"user_id":"u","groups":"beta"}}`, "groups must be a list"},
		{"/v1/evaluate", `{"flag":"dark_mode","context":{"user_id":"u","groups":[1]}}`, "groups[0]"},
		{"/v1/evaluate", `{"flag":"dark_mode",`, "malformed JSON"},
		{"/v1/evaluate", `{"flag":7}`, "flag"},
		{"/v1/evaluate/all", `{"context":{"user_id":true}}`, "user_id"},
		{"/v1/evaluate/all", `[]`, "(body)"},
	} {
		got := expect[httpapi.ErrorBody](t, h, 400, "POST", tc.path, tc.body)
		if got.Error != "invalid" || !strings.Contains(got.Message, tc.want) {
			t.Errorf("POST %s %s = %+v, want invalid naming %q", tc.path, tc.body, got, tc.want)
		}
	}
	big := `{"flag":"dark_mode","context":{"user_id":"` + strings.Repeat("u", evalBodyLimit) + `"}}`
	for _, path := range []string{"/v1/evaluate", "/v1/evaluate/all"} {
		if got := expect[httpapi.ErrorBody](t, h, 413, "POST", path, big); got.Error != "too_large" {
			t.Errorf("POST %s over the limit = %+v, want too_large", path, got)
		}
	}
	if got := h.takeExposures(); len(got) != 0 {
		t.Errorf("refused requests exposed %+v", got)
	}
}

// The native evaluation answers the engine's result as it is: a boolean
// flag, a split (which exposes the user, unless the app exposes on use), a
// disabled flag with variants (no variant), an unknown flag (404). Bulk
// evaluation lists every flag and exposes nobody unless --bulk-exposures.
func TestHandlerNativeEvaluation(t *testing.T) {
	h := newHarness(t)
	evalOf := func(flag, user string, headers ...string) evaluation {
		t.Helper()
		return expect[evaluation](t, h, 200, "POST", "/v1/evaluate", `{"flag":"`+flag+`","context":{"user_id":"`+user+`"}}`, headers...)
	}

	if got := evalOf("new_checkout_flow", "u"); got != (evaluation{Flag: "new_checkout_flow", Enabled: true, Reason: flags.ReasonStatic, Version: 1}) {
		t.Errorf("boolean = %+v", got)
	}
	got := evalOf("pricing_page_experiment", userVariantA)
	if !got.Enabled || got.Variant == nil || *got.Variant != "variant_a" || got.Reason != flags.ReasonSplit || got.Version != 4 {
		t.Errorf("split for %s = %+v, want variant_a by SPLIT at version 4", userVariantA, got)
	}
	exps := h.takeExposures()
	if len(exps) != 1 || exps[0].Flag != "pricing_page_experiment" || exps[0].Variant != "variant_a" || exps[0].UserID != userVariantA ||
		exps[0].Version != 4 || exps[0].Control != "control" || exps[0].Weights["variant_b"] != 25 {
		t.Errorf("split exposures = %+v, want one of variant_a with control and weights", exps)
	}
	if got := evalOf("pricing_page_experiment", userControl, exposureHeader, "on-use"); got.Variant == nil || *got.Variant != "control" {
		t.Errorf("split on use for %s = %+v, want control", userControl, got)
	}
	if exps := h.takeExposures(); len(exps) != 0 {
		t.Errorf("an on-use evaluation exposed %+v", exps)
	}
	if got := evalOf("dark_mode", userDarkOff); got != (evaluation{Flag: "dark_mode", Reason: flags.ReasonSplit, Version: 2}) {
		t.Errorf("percentage flag off for %s = %+v", userDarkOff, got)
	}
	if got := evalOf("paused_test", "u"); got != (evaluation{Flag: "paused_test", Reason: flags.ReasonDisabled, Version: 3}) {
		t.Errorf("disabled flag = %+v, want off with no variant", got)
	}
	missing := expect[evaluation](t, h, 200, "POST", "/v1/evaluate", `{"flag":"dark_mode","context":{}}`)
	if missing != (evaluation{Flag: "dark_mode", Reason: flags.ReasonDefault, Version: 2, ErrorCode: string(flags.ErrorTargetingKeyMissing)}) {
		t.Errorf("percentage flag without user = %+v, want DEFAULT with TARGETING_KEY_MISSING", missing)
	}
	if got := expect[httpapi.ErrorBody](t, h, 404, "POST", "/v1/evaluate", `{"flag":"ghost","context":{}}`); got.Error != "not_found" || !strings.Contains(got.Message, "ghost") {
		t.Errorf("unknown flag = %+v, want not_found naming it", got)
	}

	all := expect[evaluationList](t, h, 200, "POST", "/v1/evaluate/all", `{"context":{"user_id":"`+userControl+`"}}`)
	var keys []string
	for _, e := range all.Flags {
		keys = append(keys, e.Flag)
	}
	if !slices.Equal(keys, []string{"dark_mode", "new_checkout_flow", "paused_test", "pricing_page_experiment"}) {
		t.Errorf("evaluate/all flags %v, want every flag in key order", keys)
	}
	if p := all.Flags[3]; p.Variant == nil || *p.Variant != "control" || !all.Flags[0].Enabled {
		t.Errorf("evaluate/all for %s = %+v, want control and dark_mode on", userControl, all.Flags)
	}
	if exps := h.takeExposures(); len(exps) != 0 {
		t.Errorf("bulk evaluation exposed %+v without --bulk-exposures", exps)
	}
	h.api.bulkExposures = true
	expect[evaluationList](t, h, 200, "POST", "/v1/evaluate/all", `{"context":{"user_id":"`+userControl+`"}}`)
	if exps := h.takeExposures(); len(exps) != 1 || exps[0].Flag != "pricing_page_experiment" || exps[0].Variant != "control" {
		t.Errorf("bulk evaluation with --bulk-exposures exposed %+v, want the variant flag's control", exps)
	}
}

// OFREP: value is the boolean for a flag without variants and the variant
// name otherwise, absent for an off flag with variants; metadata carries
// the version and scalar metadata only; failures carry OFREP's codes; the
// ETag answers a repeat with 304; the bulk answer mixes results and
// failures and names the context's event stream.
func TestHandlerOFREP(t *testing.T) {
	h := newHarness(t)
	one := func(flag, user string) ofrepAnswer {
		t.Helper()
		return expect[ofrepAnswer](t, h, 200, "POST", "/ofrep/v1/evaluate/flags/"+flag, `{"context":{"targetingKey":"`+user+`"}}`)
	}

	if got := one("new_checkout_flow", "u"); got.Key != "new_checkout_flow" || string(got.Value) != "true" || got.Reason != "STATIC" ||
		got.Variant != "" || got.Metadata == nil || got.Metadata.Version != 1 {
		t.Errorf("boolean = %+v", got)
	}
	got := one("pricing_page_experiment", userVariantA)
	if string(got.Value) != `"variant_a"` || got.Variant != "variant_a" || got.Reason != "SPLIT" ||
		got.Metadata == nil || *got.Metadata != (ofrepMetadata{Version: 4, Owner: "growth"}) {
		t.Errorf("split for %s = %+v %+v, want variant_a with version and owner (no tags)", userVariantA, got, got.Metadata)
	}
	if exps := h.takeExposures(); len(exps) != 1 || exps[0].Variant != "variant_a" {
		t.Errorf("OFREP split exposures = %+v, want variant_a", exps)
	}
	if got := one("dark_mode", userDarkOff); string(got.Value) != "false" || got.Reason != "SPLIT" {
		t.Errorf("percentage flag off for %s = %+v, want false by SPLIT", userDarkOff, got)
	}
	if got := one("paused_test", "u"); got.Value != nil || got.Reason != "DISABLED" || got.Variant != "" {
		t.Errorf("off flag with variants = %+v, want no value (the caller's default) and DISABLED", got)
	}

	for _, tc := range []struct {
		flag, body string
		status     int
		code       string
	}{
		{"ghost", `{"context":{"targetingKey":"u"}}`, 404, "FLAG_NOT_FOUND"},
		{"dark_mode", `{"context":{}}`, 400, "TARGETING_KEY_MISSING"},
		{"dark_mode", `{"context":`, 400, "PARSE_ERROR"},
		{"dark_mode", `[1,2]`, 400, "PARSE_ERROR"},
		{"dark_mode", `{"context":{"targetingKey":7}}`, 400, "INVALID_CONTEXT"},
		{"dark_mode", `{"context":{"targetingKey":"u","groups":[1]}}`, 400, "INVALID_CONTEXT"},
		{"dark_mode", `{"context":{"targetingKey":"` + strings.Repeat("u", evalBodyLimit) + `"}}`, 413, "PARSE_ERROR"},
	} {
		got := expect[ofrepError](t, h, tc.status, "POST", "/ofrep/v1/evaluate/flags/"+tc.flag, tc.body)
		if got.ErrorCode != tc.code || got.Key != tc.flag || got.ErrorDetails == "" {
			t.Errorf("%s %.40s = %+v, want %s with key and details", tc.flag, tc.body, got, tc.code)
		}
	}

	body := `{"context":{"targetingKey":"` + userControl + `"}}`
	first := h.do(t, "POST", "/ofrep/v1/evaluate/flags/pricing_page_experiment", body)
	etag := first.Header().Get("ETag")
	if first.Code != 200 || etag == "" {
		t.Fatalf("first answer %d with ETag %q", first.Code, etag)
	}
	if rec := h.do(t, "POST", "/ofrep/v1/evaluate/flags/pricing_page_experiment", body, "If-None-Match", etag); rec.Code != http.StatusNotModified || rec.Body.Len() != 0 {
		t.Errorf("repeat with If-None-Match = %d %q, want an empty 304", rec.Code, rec.Body)
	}
	other := h.do(t, "POST", "/ofrep/v1/evaluate/flags/pricing_page_experiment", `{"context":{"targetingKey":"`+userVariantA+`"}}`, "If-None-Match", etag)
	if other.Code != 200 || other.Header().Get("ETag") == etag {
		t.Errorf("another context with the first ETag = %d, ETag %q; want 200 with its own ETag", other.Code, other.Header().Get("ETag"))
	}
	h.takeExposures()

	bulk := expect[ofrepBulkAnswer](t, h, 200, "POST", "/ofrep/v1/evaluate/flags", `{"context":{"plan":"pro"}}`)
	var lines []string
	for _, f := range bulk.Flags {
		lines = append(lines, f.Key+" "+string(f.Value)+" "+f.Reason+" "+f.ErrorCode)
	}
	want := []string{"dark_mode   TARGETING_KEY_MISSING", "new_checkout_flow true STATIC ", "paused_test  DISABLED ", `pricing_page_experiment "control" DEFAULT `}
	if !slices.Equal(lines, want) {
		t.Errorf("bulk without a targeting key = %q, want %q", lines, want)
	}
	if len(bulk.EventStreams) != 1 || bulk.EventStreams[0].Type != "sse" || !strings.HasPrefix(bulk.EventStreams[0].Endpoint.RequestURI, streamPath+"?ctx=") {
		t.Errorf("event streams %+v, want one sse endpoint of this flagd", bulk.EventStreams)
	}
	if exps := h.takeExposures(); len(exps) != 0 {
		t.Errorf("OFREP bulk exposed %+v", exps)
	}
	if got := expect[ofrepError](t, h, 400, "POST", "/ofrep/v1/evaluate/flags", `{"context":[]}`); got.ErrorCode != "PARSE_ERROR" || got.Key != "" {
		t.Errorf("bulk with a list for context = %+v, want PARSE_ERROR without key", got)
	}
}

// Before the first load from Redis every evaluation answers 503 with
// Retry-After in its route's shape, and /readyz says not ready; the admin
// API reads the store, so it works, and so does tracking.
func TestHandlerFlagsNotLoaded(t *testing.T) {
	h := newHarness(t)
	h.unload()
	for _, tc := range []struct{ path, body string }{
		{"/v1/evaluate", `{"flag":"dark_mode","context":{}}`},
		{"/v1/evaluate/all", `{}`},
		{"/v1/exposures", `{"context":{"targetingKey":"u"},"flags":[{"key":"dark_mode"}]}`},
	} {
		rec := h.do(t, "POST", tc.path, tc.body)
		got := httpapitest.Decode[httpapi.ErrorBody](t, rec)
		if rec.Code != 503 || got.Error != "unavailable" || rec.Header().Get("Retry-After") == "" {
			t.Errorf("POST %s = %d %+v, Retry-After %q; want 503 unavailable with Retry-After", tc.path, rec.Code, got, rec.Header().Get("Retry-After"))
		}
	}
	for _, tc := range []struct{ method, path, key string }{
		{"POST", "/ofrep/v1/evaluate/flags/dark_mode", "dark_mode"},
		{"POST", "/ofrep/v1/evaluate/flags", ""},
		{"GET", streamPath + "?ctx=e30", ""},
	} {
		rec := h.do(t, tc.method, tc.path, `{"context":{"targetingKey":"u"}}`)
		got := httpapitest.Decode[ofrepError](t, rec)
		if rec.Code != 503 || got.ErrorCode != "GENERAL" || got.Key != tc.key || rec.Header().Get("Retry-After") == "" {
			t.Errorf("%s %s = %d %+v; want 503 GENERAL with key %q and Retry-After", tc.method, tc.path, rec.Code, got, tc.key)
		}
	}
	if got := expect[readyAnswer](t, h, 503, "GET", "/readyz", ""); got.Ready || got.Checks["flags"] != errNotLoaded.Error() {
		t.Errorf("/readyz = %+v, want not ready on flags", got)
	}
	if got := expect[flagList](t, h, 200, "GET", "/v1/flags", ""); len(got.Flags) != 4 {
		t.Errorf("GET /v1/flags before the load listed %d flags, want the store's 4", len(got.Flags))
	}
	expect[flags.Flag](t, h, 200, "PUT", "/v1/flags/dark_mode", `{"status":"enabled"}`)
	expect[trackAnswer](t, h, 202, "POST", "/v1/track", `{"trackingEventName":"purchase","context":{"targetingKey":"u"}}`)
}

// The admin routes answer what the store holds, sorted, with flags it
// cannot read listed apart; writes answer the stored version; the seed's
// routes keep their shapes; a store that fails is a 503 that does not
// repeat its error.
func TestHandlerAdmin(t *testing.T) {
	h := newHarness(t)
	h.store.broken = []*flags.LoadError{{Key: "garbled", Err: errors.New("variants: not JSON")}}

	list := expect[flagList](t, h, 200, "GET", "/v1/flags", "")
	var keys []string
	for _, f := range list.Flags {
		keys = append(keys, f.Key)
	}
	if !slices.Equal(keys, []string{"dark_mode", "new_checkout_flow", "paused_test", "pricing_page_experiment"}) ||
		len(list.Unreadable) != 1 || list.Unreadable[0].Key != "garbled" || !strings.Contains(list.Unreadable[0].Error, "variants") {
		t.Errorf("GET /v1/flags = %v, unreadable %+v", keys, list.Unreadable)
	}
	if got := expect[flags.Flag](t, h, 200, "GET", "/v1/flags/pricing_page_experiment", ""); got.Version != 4 || len(got.Variants) != 3 || got.Metadata["owner"] != "growth" {
		t.Errorf("GET pricing_page_experiment = %+v", got)
	}

	created := expect[flags.Flag](t, h, 200, "PUT", "/v1/flags/beta_banner", `{"status":"targeted","allowedUsers":["alice"]}`)
	if created.Key != "beta_banner" || created.Version != 1 || created.Status != flags.StatusTargeted || !slices.Equal(created.AllowedUsers, []string{"alice"}) {
		t.Errorf("PUT beta_banner = %+v, want version 1 with the path's key", created)
	}
	if got := expect[flags.Flag](t, h, 200, "PUT", "/v1/flags/beta_banner", `{"key":"beta_banner","status":"enabled"}`); got.Version != 2 {
		t.Errorf("second PUT = version %d, want 2", got.Version)
	}
	if rec := h.do(t, "DELETE", "/v1/flags/beta_banner", ""); rec.Code != http.StatusNoContent || rec.Body.Len() != 0 {
		t.Errorf("DELETE = %d %q, want an empty 204", rec.Code, rec.Body)
	}
	for _, method := range []string{"DELETE", "GET"} {
		if got := expect[httpapi.ErrorBody](t, h, 404, method, "/v1/flags/beta_banner", ""); got.Error != "not_found" {
			t.Errorf("%s of a deleted flag = %+v", method, got)
		}
	}

	// The seed's Express routes.
	if got := expect[seedSuccess](t, h, 200, "POST", "/api/admin/flags", `{"name":"seeded","status":"percentage","percentage":10}`); !got.Success {
		t.Errorf("seed create = %+v", got)
	}
	if got := expect[flags.Flag](t, h, 200, "GET", "/v1/flags/seeded", ""); got.Percentage != 10 || got.Version != 1 {
		t.Errorf("seed-created flag = %+v", got)
	}
	if got := expect[httpapi.ErrorBody](t, h, 400, "POST", "/api/admin/flags", `{"name":"x","status":"maybe"}`); !strings.Contains(got.Message, "status") {
		t.Errorf("seed create of a bad flag = %+v, want status named", got)
	}
	names := expect[seedNames](t, h, 200, "GET", "/api/admin/flags", "")
	if !slices.Equal(names.Flags, []string{"dark_mode", "garbled", "new_checkout_flow", "paused_test", "pricing_page_experiment", "seeded"}) {
		t.Errorf("seed list = %v, want every name, unreadable ones too, sorted", names.Flags)
	}
	if got := expect[seedSuccess](t, h, 200, "DELETE", "/api/admin/flags/seeded", ""); !got.Success {
		t.Errorf("seed delete = %+v", got)
	}
	if got := expect[httpapi.ErrorBody](t, h, 404, "DELETE", "/api/admin/flags/seeded", ""); got.Error != "not_found" {
		t.Errorf("seed delete of a missing flag = %+v", got)
	}

	h.store.setDown(errors.New("dial tcp 10.0.0.7:6379: connection refused"))
	for _, tc := range []struct{ method, path, body string }{
		{"GET", "/v1/flags", ""},
		{"GET", "/v1/flags/dark_mode", ""},
		{"PUT", "/v1/flags/dark_mode", `{"status":"enabled"}`},
		{"DELETE", "/v1/flags/dark_mode", ""},
		{"GET", "/v1/flags/dark_mode/rollout", ""},
		{"PUT", "/v1/flags/dark_mode/rollout", `{"stages":[{"percentage":5}]}`},
		{"POST", "/v1/flags/dark_mode/rollout/advance", ""},
		{"POST", "/api/admin/flags", `{"name":"x","status":"enabled"}`},
		{"GET", "/api/admin/flags", ""},
		{"DELETE", "/api/admin/flags/dark_mode", ""},
	} {
		rec := h.do(t, tc.method, tc.path, tc.body)
		got := httpapitest.Decode[httpapi.ErrorBody](t, rec)
		if rec.Code != 503 || got.Error != "unavailable" || rec.Header().Get("Retry-After") == "" || strings.Contains(got.Message, "10.0.0.7") {
			t.Errorf("%s %s with the store down = %d %+v; want 503 unavailable with Retry-After, the address not repeated", tc.method, tc.path, rec.Code, got)
		}
	}
}

// The rollout routes: a plan is created, advanced, rolled back, and each
// answer holds the plan and the flag as written; no plan is a 404, an
// advance past the last stage a 409, a body that is not a plan a 400.
func TestHandlerRollouts(t *testing.T) {
	h := newHarness(t)
	const base = "/v1/flags/dark_mode/rollout"
	if got := expect[httpapi.ErrorBody](t, h, 404, "GET", base, ""); got.Error != "not_found" {
		t.Errorf("GET a rollout that is not there = %+v", got)
	}
	if got := expect[httpapi.ErrorBody](t, h, 404, "POST", base+"/advance", ""); got.Error != "not_found" {
		t.Errorf("advance without a plan = %+v", got)
	}
	for _, body := range []string{`{"stages":`, `{"stages":[{"percentage":"ten"}]}`, ``} {
		if got := expect[httpapi.ErrorBody](t, h, 400, "PUT", base, body); got.Error != "invalid" {
			t.Errorf("PUT %s = %+v, want invalid", body, got)
		}
	}
	if got := expect[httpapi.ErrorBody](t, h, 404, "PUT", "/v1/flags/ghost/rollout", `{"stages":[{"percentage":5}]}`); got.Error != "not_found" {
		t.Errorf("a plan for a missing flag = %+v", got)
	}

	created := expect[rolloutResponse](t, h, 200, "PUT", base, `{"stages":[{"percentage":10},{"percentage":50}]}`)
	if created.Rollout == nil || created.Flag == nil || len(created.Rollout.Stages) != 2 || created.Rollout.CurrentStage != 0 ||
		created.Flag.Percentage != 10 || created.Flag.Version != 3 {
		t.Fatalf("create = %+v %+v, want stage 0 applied as version 3", created.Rollout, created.Flag)
	}
	if got := expect[flags.Rollout](t, h, 200, "GET", base, ""); got.Flag != "dark_mode" || len(got.Stages) != 2 || got.Status != flags.RolloutActive {
		t.Errorf("GET rollout = %+v", got)
	}
	moved := expect[rolloutResponse](t, h, 200, "POST", base+"/advance", "")
	if moved.Rollout.CurrentStage != 1 || moved.Flag.Percentage != 50 || moved.Flag.Version != 4 {
		t.Errorf("advance = %+v %+v, want stage 1 at 50%%", moved.Rollout, moved.Flag)
	}
	if got := expect[httpapi.ErrorBody](t, h, 409, "POST", base+"/advance", ""); got.Error != "conflict" {
		t.Errorf("advance past the last stage = %+v, want conflict", got)
	}
	moved = expect[rolloutResponse](t, h, 200, "POST", base+"/rollback", "")
	if moved.Rollout.CurrentStage != 0 || moved.Flag.Percentage != 10 {
		t.Errorf("rollback = %+v %+v, want stage 0 at 10%%", moved.Rollout, moved.Flag)
	}
}

// POST /v1/exposures: the flagd evaluation decides, per flag, what is
// published (the variant the server computes, at the time and with the id
// the app gives), and the answer says so: published, not_exposed, stale,
// not_found, or dropped when the buffer is full. Every item is checked
// before anything is published.
func TestHandlerExposures(t *testing.T) {
	h := newHarness(t)
	usedAt := time.Now().UTC().Add(-time.Hour).Truncate(time.Millisecond)
	got := expect[exposureResults](t, h, 202, "POST", "/v1/exposures", `[
		{"context":{"targetingKey":"`+userVariantA+`"},"flags":[
			{"key":"pricing_page_experiment","version":4,"variant":"control"},
			{"key":"dark_mode","version":1},
			{"key":"paused_test"},
			{"key":"new_checkout_flow"},
			{"key":"ghost"}]},
		{"context":{"targetingKey":"`+userControl+`"},"flags":[
			{"key":"pricing_page_experiment","ts":"`+usedAt.Format(time.RFC3339Nano)+`","id":"u789-ppe-1"}]}]`)
	want := []exposureResult{
		{Key: "pricing_page_experiment", Status: exposurePublished, Variant: "variant_a", Version: 4}, // the app's "control" is not trusted
		{Key: "dark_mode", Status: exposureStale, Version: 2},
		{Key: "paused_test", Status: exposureNotExposed, Version: 3},
		{Key: "new_checkout_flow", Status: exposureNotExposed, Version: 1}, // no variants: nothing to expose
		{Key: "ghost", Status: exposureNotFound},
		{Key: "pricing_page_experiment", Status: exposurePublished, Variant: "control", Version: 4},
	}
	if !slices.Equal(got.Results, want) {
		t.Errorf("results\n%+v\nwant\n%+v", got.Results, want)
	}
	pub := h.takePublished()
	if len(pub) != 2 {
		t.Fatalf("published %+v, want two exposures", pub)
	}
	a, b := pub[0], pub[1]
	if a.Type != events.TypeExposure || a.Experiment != "pricing_page_experiment" || a.Variant != "variant_a" || a.UserID != userVariantA ||
		a.FlagVersion != 4 || a.Control != "control" || a.Weights["control"] != 50 || a.ID != "" || time.Since(a.TS) > time.Minute {
		t.Errorf("first exposure = %+v, want variant_a now, with version, control and weights, id left to the publisher", a)
	}
	if b.Variant != "control" || b.UserID != userControl || !b.TS.Equal(usedAt) || b.ID != "u789-ppe-1" {
		t.Errorf("second exposure = %+v, want control at %v with the app's id", b, usedAt)
	}
	if exps := h.takeExposures(); len(exps) != 0 {
		t.Errorf("reported exposures also went through the evaluation hook: %+v", exps)
	}

	h.setBufferFull(true)
	full := expect[exposureResults](t, h, 202, "POST", "/v1/exposures", `{"context":{"targetingKey":"`+userControl+`"},"flags":[{"key":"pricing_page_experiment"},{"key":"paused_test"}]}`)
	if !slices.Equal(full.Results, []exposureResult{{Key: "pricing_page_experiment", Status: exposureDropped, Version: 4}, {Key: "paused_test", Status: exposureNotExposed, Version: 3}}) {
		t.Errorf("with the buffer full = %+v, want dropped (and not_exposed unchanged)", full.Results)
	}
	h.setBufferFull(false)

	tooMany := `{"context":{"targetingKey":"u"},"flags":[` + strings.TrimSuffix(strings.Repeat(`{"key":"dark_mode"},`, maxExposureFlags+1), ",") + `]}`
	for body, want := range map[string]string{
		`{"context":{"targetingKey":"u"},"flags":[]}`:                                             "flags is empty",
		`{"context":{"targetingKey":"u"},"flags":[{"key":"bad:key"}]}`:                            "flags[0].key",
		`{"context":{"targetingKey":5},"flags":[{"key":"dark_mode"}]}`:                            "targetingKey must be a string",
		`[{"context":{"targetingKey":"u"},"flags":[{"key":"pricing_page_experiment"}]}, {"x":1}]`: "item 1",
		`{"context":`: "JSON",
		`{"context":{"targetingKey":"u"},"flags":[{"key":"pricing_page_experiment","ts":"2020-01-01T00:00:00Z"}]}`: "flags[0].ts",
		`{"context":{"targetingKey":"u"},"flags":[{"key":"pricing_page_experiment","ts":"yesterday"}]}`:            "ts",
		`{"context":{"targetingKey":"u"},"flags":[{"key":"pricing_page_experiment","id":"bad id\u0000"}]}`:         "flags[0].id",
		tooMany: "the limit is 1000",
	} {
		got := expect[httpapi.ErrorBody](t, h, 400, "POST", "/v1/exposures", body)
		if got.Error != "invalid" || !strings.Contains(got.Message, want) {
			t.Errorf("POST %.80s = %+v, want invalid naming %q", body, got, want)
		}
	}
	big := `{"context":{"targetingKey":"u","pad":"` + strings.Repeat("x", exposureBodyLimit) + `"},"flags":[{"key":"dark_mode"}]}`
	if got := expect[httpapi.ErrorBody](t, h, 413, "POST", "/v1/exposures", big); got.Error != "too_large" {
		t.Errorf("exposures over the limit = %+v", got)
	}
	if pub := h.takePublished(); len(pub) != 0 {
		t.Errorf("refused requests published %+v (the first item of the item-1 request included?)", pub)
	}
}

// POST /v1/track hands one conversion to the raw stream and answers its id
// (the app's, or a new one) once stored; a failure to store is a 503, bad
// input a 400 naming the tracking event's field.
func TestHandlerTrack(t *testing.T) {
	h := newHarness(t)
	a := expect[trackAnswer](t, h, 202, "POST", "/v1/track",
		`{"trackingEventName":"purchase","context":{"targetingKey":"user_1"},"trackingEventDetails":{"value":99.99,"id":"order-17"}}`)
	b := expect[trackAnswer](t, h, 202, "POST", "/v1/track",
		`{"trackingEventName":"signup","context":{"targetingKey":"user_2"},"trackingEventDetails":{"experiment":"checkout"}}`)
	stored := h.takeStored()
	if a.ID != "order-17" || b.ID == "" || len(stored) != 2 {
		t.Fatalf("ids %q %q, stored %+v", a.ID, b.ID, stored)
	}
	p, s := stored[0], stored[1]
	if p.ID != "order-17" || p.Type != events.TypeConversion || p.ConversionType != "purchase" || p.UserID != "user_1" ||
		p.Value == nil || *p.Value != 99.99 || time.Since(p.TS) > time.Minute {
		t.Errorf("purchase = %+v", p)
	}
	if s.ID != b.ID || s.ConversionType != "signup" || s.Experiment != "checkout" || s.Value != nil || s.UserID != "user_2" {
		t.Errorf("signup = %+v, want the answered id %q", s, b.ID)
	}

	for body, want := range map[string]string{
		`{"trackingEventName":"bad name","context":{"targetingKey":"u"}}`:                                      "trackingEventName",
		`{"trackingEventName":"purchase","context":{}}`:                                                        "context.targetingKey",
		`{"trackingEventName":"purchase","context":{"targetingKey":"u"},"trackingEventDetails":{"value":"x"}}`: "value",
		`{"trackingEventName":"purchase","context":{"targetingKey":7}}`:                                        "targetingKey must be a string",
		`{"trackingEventName":`: "malformed JSON",
	} {
		got := expect[httpapi.ErrorBody](t, h, 400, "POST", "/v1/track", body)
		if got.Error != "invalid" || !strings.Contains(got.Message, want) {
			t.Errorf("POST /v1/track %s = %+v, want invalid naming %q", body, got, want)
		}
	}
	if stored := h.takeStored(); len(stored) != 0 {
		t.Errorf("refused tracking events were stored: %+v", stored)
	}

	h.setStoreErr(errors.New("nats: no responders available for request"))
	rec := h.do(t, "POST", "/v1/track", `{"trackingEventName":"purchase","context":{"targetingKey":"u"}}`)
	if got := httpapitest.Decode[httpapi.ErrorBody](t, rec); rec.Code != 503 || got.Error != "unavailable" || rec.Header().Get("Retry-After") == "" {
		t.Errorf("track with the stream away = %d %+v, want 503 unavailable with Retry-After", rec.Code, got)
	}
}
