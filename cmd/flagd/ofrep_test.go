package main

import (
	"context"
	"net/http"
	"strings"
	"testing"

	ofrep "github.com/open-feature/go-sdk-contrib/providers/ofrep"
	"github.com/open-feature/go-sdk/openfeature"
)

func setupOFREPFlags(t *testing.T, in *instance) {
	t.Helper()
	in.expect(t, 200, "PUT", "/v1/flags/new_checkout_flow", map[string]any{"status": "enabled"})
	in.expect(t, 200, "PUT", "/v1/flags/pricing_page_experiment", threeWay)
	in.expect(t, 200, "PUT", "/v1/flags/dark_mode", map[string]any{"status": "percentage", "percentage": 25})
	in.expect(t, 200, "PUT", "/v1/flags/paused_test", map[string]any{"status": "disabled",
		"variants": map[string]any{"control": 50, "treatment": 50}})
	for _, k := range []string{"new_checkout_flow", "pricing_page_experiment", "dark_mode", "paused_test"} {
		in.waitServed(t, k, 1)
	}
}

func TestOFREPSingle(t *testing.T) {
	in := start(t, newEnv(t), nil)
	setupOFREPFlags(t, in)
	ctxUser := func(u string) map[string]any { return map[string]any{"context": map[string]any{"targetingKey": u}} }

	got := in.expect(t, 200, "POST", "/ofrep/v1/evaluate/flags/new_checkout_flow", ctxUser("user_1"))
	if got["key"] != "new_checkout_flow" || got["value"] != true || got["reason"] != "STATIC" ||
		got["metadata"].(map[string]any)["version"].(float64) != 1 {
		t.Errorf("boolean = %v", got)
	}
	got = in.expect(t, 200, "POST", "/ofrep/v1/evaluate/flags/pricing_page_experiment", ctxUser("user_789"))
	if got["value"] != "control" || got["variant"] != "control" || got["reason"] != "SPLIT" ||
		got["metadata"].(map[string]any)["owner"] != "growth" {
		t.Errorf("variant flag = %v", got)
	}
	if _, hasList := got["metadata"].(map[string]any)["tags"]; hasList {
		t.Errorf("metadata carries a list, which OFREP's flag metadata does not allow: %v", got["metadata"])
	}
	// An off flag with variants defers to the code default: no value at all.
	got = in.expect(t, 200, "POST", "/ofrep/v1/evaluate/flags/paused_test", ctxUser("user_1"))
	if _, has := got["value"]; has || got["reason"] != "DISABLED" {
		t.Errorf("off flag with variants = %v, want no value and reason DISABLED", got)
	}
	// A boolean percentage flag off for this user is value false, SPLIT.
	got = in.expect(t, 200, "POST", "/ofrep/v1/evaluate/flags/dark_mode", ctxUser("user_001"))
	if got["value"] != false || got["reason"] != "SPLIT" {
		t.Errorf("dark_mode for user_001 (bucket 73) = %v", got)
	}

	for _, tc := range []struct {
		path   string
		body   any
		status int
		code   string
	}{
		{"ghost", ctxUser("u"), 404, "FLAG_NOT_FOUND"},
		{"dark_mode", map[string]any{"context": map[string]any{}}, 400, "TARGETING_KEY_MISSING"},
		{"dark_mode", `{"context":`, 400, "PARSE_ERROR"},
		{"dark_mode", `[1,2]`, 400, "PARSE_ERROR"},
		{"dark_mode", map[string]any{"context": map[string]any{"targetingKey": 7}}, 400, "INVALID_CONTEXT"},
		{"dark_mode", map[string]any{"context": map[string]any{"targetingKey": "u", "groups": []any{1}}}, 400, "INVALID_CONTEXT"},
		{"dark_mode", map[string]any{"context": map[string]any{"targetingKey": "bad\x01id"}}, 400, "INVALID_CONTEXT"},
		{"dark_mode", `{"context":{"targetingKey":"` + strings.Repeat("u", 70<<10) + `"}}`, 413, "PARSE_ERROR"},
	} {
		r := in.do(t, "POST", "/ofrep/v1/evaluate/flags/"+tc.path, tc.body)
		if r.Status != tc.status {
			t.Errorf("%s %v = %d %s, want %d", tc.path, tc.body, r.Status, r.Body, tc.status)
			continue
		}
		m := r.JSON(t)
		if m["errorCode"] != tc.code || m["key"] != tc.path || m["errorDetails"] == "" {
			t.Errorf("%s %v = %v, want errorCode %s with key and details", tc.path, tc.body, m, tc.code)
		}
	}
}

func TestOFREPETag(t *testing.T) {
	in := start(t, newEnv(t), nil)
	setupOFREPFlags(t, in)
	body := map[string]any{"context": map[string]any{"targetingKey": "user_789"}}
	for _, path := range []string{"/ofrep/v1/evaluate/flags/pricing_page_experiment", "/ofrep/v1/evaluate/flags"} {
		first := in.do(t, "POST", path, body)
		etag := first.Header.Get("ETag")
		if first.Status != 200 || etag == "" {
			t.Fatalf("%s: %d, ETag %q", path, first.Status, etag)
		}
		again := in.do(t, "POST", path, body, "If-None-Match", etag)
		if again.Status != http.StatusNotModified || len(again.Body) != 0 {
			t.Errorf("%s with its ETag = %d %s, want 304 without a body", path, again.Status, again.Body)
		}
		// Another user's answer differs, so the same ETag must not match it.
		other := in.do(t, "POST", path, map[string]any{"context": map[string]any{"targetingKey": "user_001"}}, "If-None-Match", etag)
		if other.Status != 200 || other.Header.Get("ETag") == etag {
			t.Errorf("%s for another user with the first ETag = %d (ETag %s)", path, other.Status, other.Header.Get("ETag"))
		}
	}
	// A flag change changes the bulk ETag.
	first := in.do(t, "POST", "/ofrep/v1/evaluate/flags", body)
	in.expect(t, 200, "PUT", "/v1/flags/new_checkout_flow", map[string]any{"status": "disabled"})
	in.waitServed(t, "new_checkout_flow", 2)
	if r := in.do(t, "POST", "/ofrep/v1/evaluate/flags", body, "If-None-Match", first.Header.Get("ETag")); r.Status != 200 {
		t.Errorf("bulk after a flag change = %d, want 200 with the new flags", r.Status)
	}
}

func TestOFREPBulk(t *testing.T) {
	in := start(t, newEnv(t), nil)
	setupOFREPFlags(t, in)
	got := in.expect(t, 200, "POST", "/ofrep/v1/evaluate/flags", map[string]any{"context": map[string]any{}})
	list := got["flags"].([]any)
	byKey := map[string]map[string]any{}
	for _, f := range list {
		m := f.(map[string]any)
		byKey[m["key"].(string)] = m
	}
	if len(byKey) != 4 {
		t.Fatalf("bulk = %v", got)
	}
	if byKey["dark_mode"]["errorCode"] != "TARGETING_KEY_MISSING" {
		t.Errorf("percentage flag without a user in bulk = %v", byKey["dark_mode"])
	}
	if f := byKey["pricing_page_experiment"]; f["value"] != "control" || f["reason"] != "DEFAULT" {
		t.Errorf("variant flag without a user = %v, want the first variant, DEFAULT", f)
	}
	if byKey["new_checkout_flow"]["value"] != true {
		t.Errorf("boolean in bulk = %v", byKey["new_checkout_flow"])
	}
	in.expect(t, 400, "POST", "/ofrep/v1/evaluate/flags", `{"context": 5}`)
}

// The OpenFeature Go SDK with its OFREP provider against a running flagd.
func TestOpenFeatureSDK(t *testing.T) {
	token := "evaluate-token-0123456789"
	tokens := writeTokens(t, "evaluate "+token, "admin admin-token-0123456789")
	in := start(t, newEnv(t), map[string]string{"FLAGSTREAM_TOKENS_FILE": tokens})
	admin := []string{"Authorization", "Bearer admin-token-0123456789"}
	in.expect(t, 200, "PUT", "/v1/flags/new_checkout_flow", map[string]any{"status": "enabled"}, admin...)
	in.expect(t, 200, "PUT", "/v1/flags/pricing_page_experiment", threeWay, admin...)
	in.expect(t, 200, "PUT", "/v1/flags/paused_test", map[string]any{"status": "disabled", "variants": map[string]any{"a": 50, "b": 50}}, admin...)
	for _, k := range []string{"new_checkout_flow", "pricing_page_experiment", "paused_test"} {
		waitServedAuth(t, in, k, token)
	}

	ctx := context.Background()
	if err := openfeature.SetNamedProviderAndWait("flagstream-"+t.Name(), ofrep.NewProvider(in.URL, ofrep.WithBearerToken(token))); err != nil {
		t.Fatal(err)
	}
	client := openfeature.NewClient("flagstream-" + t.Name())
	ec := openfeature.NewEvaluationContext("user_789", map[string]any{"plan": "pro"})

	b, err := client.BooleanValueDetails(ctx, "new_checkout_flow", false, ec)
	if err != nil || !b.Value || b.Reason != openfeature.StaticReason {
		t.Errorf("boolean = %+v, %v", b, err)
	}
	s, err := client.StringValueDetails(ctx, "pricing_page_experiment", "fallback", ec)
	if err != nil || s.Value != "control" || s.Variant != "control" || s.Reason != openfeature.SplitReason {
		t.Errorf("variant = %+v, %v", s, err)
	}
	if v, ok := s.FlagMetadata["version"].(float64); !ok || v != 1 {
		t.Errorf("flag metadata = %v, want version 1", s.FlagMetadata)
	}
	// An off flag with variants: the SDK returns the caller's default.
	s, _ = client.StringValueDetails(ctx, "paused_test", "fallback", ec)
	if s.Value != "fallback" || s.Reason != openfeature.DisabledReason {
		t.Errorf("off flag = %+v, want the default value", s)
	}
	nf, err := client.BooleanValueDetails(ctx, "ghost", true, ec)
	if err == nil || nf.ErrorCode != openfeature.FlagNotFoundCode || !nf.Value {
		t.Errorf("missing flag = %+v, %v; want FLAG_NOT_FOUND with the default", nf, err)
	}
	tm, err := client.BooleanValueDetails(ctx, "pricing_page_experiment", false, ec)
	if err == nil || tm.ErrorCode != openfeature.TypeMismatchCode {
		t.Errorf("boolean of a string flag = %+v, %v; want TYPE_MISMATCH", tm, err)
	}

	// Auth errors: no token, and a token without the evaluate scope.
	for name, p := range map[string]*ofrep.Provider{
		"none":  ofrep.NewProvider(in.URL),
		"wrong": ofrep.NewProvider(in.URL, ofrep.WithBearerToken("not-a-valid-token-000")),
	} {
		dom := "flagstream-" + t.Name() + "-" + name
		if err := openfeature.SetNamedProviderAndWait(dom, p); err != nil {
			t.Fatal(err)
		}
		d, err := openfeature.NewClient(dom).BooleanValueDetails(ctx, "new_checkout_flow", false, ec)
		if err == nil || d.ErrorCode != openfeature.GeneralCode || d.Value {
			t.Errorf("%s token: %+v, %v; want a GENERAL error and the default", name, d, err)
		}
	}
}

func waitServedAuth(t *testing.T, in *instance, key, token string) {
	t.Helper()
	for range 200 {
		r := in.do(t, "POST", "/ofrep/v1/evaluate/flags/"+key, map[string]any{"context": map[string]any{"targetingKey": "probe"}},
			"Authorization", "Bearer "+token)
		if r.Status == 200 {
			return
		}
		waitShort()
	}
	t.Fatalf("flag %s not served", key)
}
