package httpapi

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
)

// readyzAnswer is what GET /readyz answers.
type readyzAnswer struct {
	Ready    bool              `json:"ready"`
	Checks   map[string]string `json:"checks"`
	Warnings map[string]string `json:"warnings"`
}

func getReadyz(t *testing.T, h *Health, token string) (int, readyzAnswer) {
	t.Helper()
	mux := http.NewServeMux()
	h.Register(mux)
	req := httptest.NewRequest("GET", "/readyz", nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	w := httptest.NewRecorder()
	mux.ServeHTTP(w, req)
	var a readyzAnswer
	if err := json.Unmarshal(w.Body.Bytes(), &a); err != nil {
		t.Fatalf("/readyz body %q: %v", w.Body, err)
	}
	return w.Code, a
}

// /readyz names the failing dependency to everyone, but its message (which
// may hold addresses and user names) only to a caller with a read token, or
// to everyone when no tokens are configured (loopback-only mode).
func TestReadyzHidesDetailWithoutReadToken(t *testing.T) {
	const secretish = "dial tcp 10.0.0.7:6379: WRONGPASS user alice"
	const lost = "3 events lost"
	checks := []Check{
		{Name: "redis", Fn: func(context.Context) error { return errors.New(secretish) }},
		{Name: "nats", Fn: func(context.Context) error { return nil }},
		{Name: "loss", Fn: func(context.Context) error { return errors.New(lost) }, Warn: true},
	}
	tokens, err := LoadTokens(tokensFile(t, "admin aaaaaaaaaaaaaaaa1\nread rrrrrrrrrrrrrrrr1\nevaluate eeeeeeeeeeeeeeee1\n"))
	if err != nil {
		t.Fatal(err)
	}
	none := Tokens{}
	cases := []struct {
		name   string
		tokens *Tokens
		token  string
		detail bool
	}{
		{"not told the tokens", nil, "", false},
		{"not told the tokens, with a token", nil, "rrrrrrrrrrrrrrrr1", false},
		{"no tokens configured (loopback only)", &none, "", true},
		{"tokens configured, none given", &tokens, "", false},
		{"tokens configured, unknown token", &tokens, "xxxxxxxxxxxxxxxx1", false},
		{"tokens configured, evaluate token", &tokens, "eeeeeeeeeeeeeeee1", false},
		{"tokens configured, read token", &tokens, "rrrrrrrrrrrrrrrr1", true},
		{"tokens configured, admin token", &tokens, "aaaaaaaaaaaaaaaa1", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := NewHealth(context.Background(), checks...)
			h.Tokens = tc.tokens
			code, a := getReadyz(t, h, tc.token)
			if code != http.StatusServiceUnavailable || a.Ready {
				t.Errorf("status %d ready %v, want 503 with redis away", code, a.Ready)
			}
			if a.Checks["nats"] != "ok" {
				t.Errorf("nats = %q, want ok", a.Checks["nats"])
			}
			wantRedis, wantLoss := "unavailable", "failing"
			if tc.detail {
				wantRedis, wantLoss = secretish, lost
			}
			if a.Checks["redis"] != wantRedis || a.Warnings["loss"] != wantLoss {
				t.Errorf("redis = %q, warning loss = %q; want %q, %q", a.Checks["redis"], a.Warnings["loss"], wantRedis, wantLoss)
			}
		})
	}
}

// A failing warning check keeps the service ready (200) and is listed under
// "warnings"; once it passes, it is gone from there.
func TestReadyzWarnings(t *testing.T) {
	var lost error = errors.New("12 events lost")
	h := NewHealth(context.Background(),
		Check{Name: "redis", Fn: func(context.Context) error { return nil }},
		Check{Name: "loss", Fn: func(context.Context) error { return lost }, Warn: true},
	)
	h.Tokens = &Tokens{}
	code, a := getReadyz(t, h, "")
	if code != http.StatusOK || !a.Ready {
		t.Errorf("status %d ready %v with only a warning failing, want 200 and ready", code, a.Ready)
	}
	if a.Warnings["loss"] != "12 events lost" || a.Checks["loss"] != "warning" || a.Checks["redis"] != "ok" {
		t.Errorf("answer %+v", a)
	}
	lost = nil
	code, a = getReadyz(t, h, "")
	if code != http.StatusOK || len(a.Warnings) != 0 || a.Checks["loss"] != "ok" {
		t.Errorf("after the warning cleared: %d %+v", code, a)
	}
}

// The tokens of deploy/tokens.example are refused beyond loopback, each of
// them (the hashes embedded in the binary cover the committed file), and a
// file that mixes one in with real tokens is refused too.
func TestCheckListenRefusesExampleTokens(t *testing.T) {
	const example = "../../deploy/tokens.example"
	f, err := os.Open(example)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" && !strings.HasPrefix(l, "#") {
			lines = append(lines, l)
		}
	}
	if len(lines) == 0 {
		t.Fatalf("%s holds no tokens", example)
	}
	for _, l := range lines {
		scope, token, _ := strings.Cut(l, " ")
		mixed := "admin " + strings.Repeat("z", 32) + "\n" + l + "\n"
		tok, err := LoadTokens(tokensFile(t, mixed))
		if err != nil {
			t.Fatal(err)
		}
		err = CheckListen("0.0.0.0:8080", tok)
		if err == nil || !strings.Contains(err.Error(), "example token") || !strings.Contains(err.Error(), "line 2") ||
			!strings.Contains(err.Error(), "scope "+scope) {
			t.Errorf("the example %s token beyond loopback: %v, want a refusal naming line 2 and the scope", scope, err)
		} else if strings.Contains(err.Error(), token) {
			t.Errorf("the refusal echoes the token: %v", err)
		}
		for _, addr := range []string{"127.0.0.1:8080", "localhost:8080", "[::1]:8080"} {
			if err := CheckListen(addr, tok); err != nil {
				t.Errorf("example token on %s (loopback): %v", addr, err)
			}
		}
	}
	real, err := LoadTokens(tokensFile(t, "admin "+strings.Repeat("z", 32)+"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckListen("0.0.0.0:8080", real); err != nil {
		t.Errorf("a real token beyond loopback: %v", err)
	}
}
