package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/flagstream/flagstream/internal/testenv/procs"
)

func waitShort() { time.Sleep(5 * time.Millisecond) }

func TestAuthScopes(t *testing.T) {
	const (
		adminTok = "admin-secret-token-aaaa"
		evalTok  = "evaluate-secret-token-bbbb"
		readTok  = "read-secret-token-cccc"
	)
	tokens := writeTokens(t, "# flagd test tokens", "admin "+adminTok, "evaluate "+evalTok, "read "+readTok)
	in := start(t, newEnv(t), map[string]string{"FLAGSTREAM_TOKENS_FILE": tokens})
	bearer := func(tok string) []string { return []string{"Authorization", "Bearer " + tok} }
	flag := map[string]any{"status": "enabled"}
	eval := map[string]any{"flag": "f", "context": map[string]any{"user_id": "u"}}
	ofrepBody := map[string]any{"context": map[string]any{"targetingKey": "u"}}

	in.expect(t, 401, "PUT", "/v1/flags/f", flag)
	in.expect(t, 401, "PUT", "/v1/flags/f", flag, bearer("unknown-token-xxxxxxxx")...)
	in.expect(t, 403, "PUT", "/v1/flags/f", flag, bearer(evalTok)...)
	in.expect(t, 403, "PUT", "/v1/flags/f", flag, bearer(readTok)...)
	in.expect(t, 200, "PUT", "/v1/flags/f", flag, bearer(adminTok)...)

	in.expect(t, 401, "GET", "/v1/flags", nil)
	in.expect(t, 403, "GET", "/v1/flags", nil, bearer(evalTok)...)
	in.expect(t, 200, "GET", "/v1/flags", nil, bearer(readTok)...)
	in.expect(t, 200, "GET", "/api/admin/flags", nil, bearer(adminTok)...) // admin implies read
	in.expect(t, 403, "POST", "/api/admin/flags", map[string]any{"name": "g", "status": "enabled"}, bearer(readTok)...)
	in.expect(t, 403, "DELETE", "/v1/flags/f", nil, bearer(evalTok)...)

	in.expect(t, 401, "POST", "/v1/evaluate", eval)
	in.expect(t, 403, "POST", "/v1/evaluate", eval, bearer(readTok)...)
	for range 200 { // the write above reaches the cache through the change channel
		if in.do(t, "POST", "/v1/evaluate", eval, bearer(evalTok)...).Status == 200 {
			break
		}
		waitShort()
	}
	in.expect(t, 200, "POST", "/v1/evaluate", eval, bearer(evalTok)...)

	// OFREP answers auth errors in its own shape.
	got := in.expect(t, 401, "POST", "/ofrep/v1/evaluate/flags/f", ofrepBody)
	if got["errorCode"] != "GENERAL" || got["key"] != "f" {
		t.Errorf("OFREP 401 = %v", got)
	}
	in.expect(t, 403, "POST", "/ofrep/v1/evaluate/flags/f", ofrepBody, bearer(readTok)...)
	in.expect(t, 200, "POST", "/ofrep/v1/evaluate/flags/f", ofrepBody, "X-API-Key", evalTok)
	in.expect(t, 200, "POST", "/ofrep/v1/evaluate/flags", ofrepBody, bearer(evalTok)...)

	// Health and metrics stay open for probes and scrapers.
	in.expect(t, 200, "GET", "/readyz", nil)

	// No token ever reaches the log.
	if err := in.Stop(); err != nil {
		t.Fatal(err)
	}
	logs := in.Logs.String()
	for _, tok := range []string{adminTok, evalTok, readTok, "unknown-token-xxxxxxxx"} {
		if strings.Contains(logs, tok) {
			t.Errorf("token %q appears in the log", tok)
		}
	}
	if !strings.Contains(logs, `"auth":true`) {
		t.Errorf("the listening line does not say auth is on:\n%s", logs)
	}
}

func TestRefusesOpenNonLoopback(t *testing.T) {
	e := newEnv(t)
	e["FLAGSTREAM_HTTP_ADDR"] = "0.0.0.0:0"
	err := run(context.Background(), nil, func(k string) string { return e[k] }, &procs.Logs{})
	if err == nil || !strings.Contains(err.Error(), "tokens-file") {
		t.Fatalf("run on 0.0.0.0 without tokens = %v, want a refusal naming --tokens-file", err)
	}
}

func TestBadTokensFile(t *testing.T) {
	e := newEnv(t)
	for _, content := range []string{"superuser abcdefghijklmnopq", "admin short", "admin", ""} {
		e["FLAGSTREAM_TOKENS_FILE"] = writeTokens(t, content)
		err := run(context.Background(), nil, func(k string) string { return e[k] }, &procs.Logs{})
		if err == nil || !strings.Contains(err.Error(), "tokens file") {
			t.Errorf("tokens file %q: run = %v, want a tokens file error", content, err)
		}
		if err != nil && strings.Contains(err.Error(), "abcdefghijklmnopq") {
			t.Errorf("error echoes the token: %v", err)
		}
	}
}
