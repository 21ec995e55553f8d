package httpapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/flagstream/flagstream/pkg/flags"
)

func TestDecode(t *testing.T) {
	type body struct {
		Name  string `json:"name"`
		Count int    `json:"count"`
	}
	tests := []struct {
		in, want string
		status   int
	}{
		{`{"name":"a","count":1}`, "", 0},
		{``, "empty body", 400},
		{`{"name":`, "body ends early", 400},
		{`{"name":1}`, "name: expected string", 400},
		{`{"name":"a"} x`, "trailing data", 400},
		{`{"name":"` + strings.Repeat("x", 200) + `"}`, "too large", 413},
	}
	for _, tt := range tests {
		r := httptest.NewRequest("POST", "/", strings.NewReader(tt.in))
		_, err := Decode[body](httptest.NewRecorder(), r, 100)
		if tt.status == 0 {
			if err != nil {
				t.Errorf("Decode(%q) = %v", tt.in, err)
			}
			continue
		}
		status, _ := Status(err)
		if status != tt.status || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Decode(%q) = %v (status %d), want %d naming %q", tt.in, err, status, tt.status, tt.want)
		}
	}
}

func TestStatus(t *testing.T) {
	for _, tt := range []struct {
		err  error
		want int
	}{
		{fmt.Errorf("x: %w", flags.ErrNotFound), 404},
		{&flags.FieldError{Field: "a", Reason: "b"}, 400},
		{fmt.Errorf("%w: y", ErrBadRequest), 400},
		{ErrUnauthorized, 401},
		{ErrForbidden, 403},
		{fmt.Errorf("w: %w", flags.ErrConflict), 409},
		{fmt.Errorf("%w: redis", ErrUnavailable), 503},
		{errors.New("boom"), 500},
	} {
		if got, _ := Status(tt.err); got != tt.want {
			t.Errorf("Status(%v) = %d, want %d", tt.err, got, tt.want)
		}
	}
}

// A 5xx never sends its internal message.
func TestWriteErrorHidesInternals(t *testing.T) {
	w := httptest.NewRecorder()
	r := httptest.NewRequest("GET", "/", nil).WithContext(zerolog.Nop().WithContext(context.Background()))
	WriteError(w, r, errors.New("dial tcp 10.1.2.3:6379: secret internals"))
	if w.Code != 500 || strings.Contains(w.Body.String(), "10.1.2.3") {
		t.Errorf("500 body = %s", w.Body.String())
	}
}

func tokensFile(t *testing.T, content string) string {
	p := filepath.Join(t.TempDir(), "tokens")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestTokens(t *testing.T) {
	tok, err := LoadTokens(tokensFile(t, "# comment\n\nadmin aaaaaaaaaaaaaaaa1\nevaluate eeeeeeeeeeeeeeee1\nread eeeeeeeeeeeeeeee1\n"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		token string
		scope Scope
		want  error
	}{
		{"aaaaaaaaaaaaaaaa1", ScopeEvaluate, nil}, // admin implies every scope
		{"eeeeeeeeeeeeeeee1", ScopeEvaluate, nil},
		{"eeeeeeeeeeeeeeee1", ScopeRead, nil}, // a token on two lines holds both scopes
		{"eeeeeeeeeeeeeeee1", ScopeAdmin, ErrForbidden},
		{"eeeeeeeeeeeeeeee", ScopeEvaluate, ErrUnauthorized}, // a prefix is not the token
		{"", ScopeRead, ErrUnauthorized},
	} {
		if got := tok.check(tt.token, tt.scope); got != tt.want {
			t.Errorf("check(%q, %s) = %v, want %v", tt.token, tt.scope, got, tt.want)
		}
	}
	for _, bad := range []string{"root aaaaaaaaaaaaaaaa1\n", "admin tooshort\n", "admin a b\n", "# nothing\n"} {
		_, err := LoadTokens(tokensFile(t, bad))
		if err == nil || strings.Contains(err.Error(), "aaaaaaaaaaaaaaaa1") || strings.Contains(err.Error(), "tooshort") {
			t.Errorf("LoadTokens(%q) = %v: want an error that does not echo the token", bad, err)
		}
	}
}

func TestCheckListen(t *testing.T) {
	for addr, ok := range map[string]bool{"127.0.0.1:8080": true, "[::1]:80": true, "localhost:1": true, ":8080": false, "0.0.0.0:80": false, "10.0.0.1:80": false} {
		if err := CheckListen(addr, Tokens{}); (err == nil) != ok {
			t.Errorf("CheckListen(%q) = %v, want ok=%v", addr, err, ok)
		}
	}
	tok, _ := LoadTokens(tokensFile(t, "admin aaaaaaaaaaaaaaaa1\n"))
	if err := CheckListen(":8080", tok); err != nil {
		t.Errorf("with tokens, any address: %v", err)
	}
}

// Cancelling the context drains: a request in flight completes.
func TestServeDrains(t *testing.T) {
	started := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		time.Sleep(300 * time.Millisecond)
		_, _ = io.WriteString(w, "done")
	})
	srv := NewServer("127.0.0.1:0", h, zerolog.Nop())
	ctx, cancel := context.WithCancel(context.Background())
	addrc := make(chan net.Addr, 1)
	served := make(chan error, 1)
	go func() { served <- Serve(ctx, srv, func(a net.Addr) { addrc <- a }) }()
	addr := <-addrc
	type result struct {
		body string
		err  error
	}
	got := make(chan result, 1)
	go func() {
		resp, err := http.Get("http://" + addr.String())
		if err != nil {
			got <- result{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		got <- result{string(b), err}
	}()
	<-started
	cancel()
	if r := <-got; r.err != nil || r.body != "done" {
		t.Errorf("in-flight request during shutdown: %q, %v", r.body, r.err)
	}
	if err := <-served; err != nil {
		t.Errorf("Serve = %v", err)
	}
	if _, err := http.Get("http://" + addr.String()); err == nil {
		t.Error("server still accepts after shutdown")
	}
}

func TestServerTimeouts(t *testing.T) {
	s := NewServer(":0", http.NotFoundHandler(), zerolog.Nop())
	if s.ReadHeaderTimeout == 0 || s.ReadTimeout == 0 || s.WriteTimeout == 0 || s.IdleTimeout == 0 || s.MaxHeaderBytes == 0 {
		t.Errorf("server without a limit: %+v", s)
	}
}

func TestReadyz(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	failing := errors.New("down")
	var fail bool
	h := NewHealth(ctx, Check{Name: "dep", Fn: func(context.Context) error {
		if fail {
			return failing
		}
		return nil
	}})
	mux := http.NewServeMux()
	h.Register(mux)
	get := func(path string) int {
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, httptest.NewRequest("GET", path, nil))
		return w.Code
	}
	if get("/readyz") != 200 || get("/healthz") != 200 {
		t.Fatal("not ready while everything answers")
	}
	fail = true
	if get("/readyz") != 503 {
		t.Error("ready with a failing dependency")
	}
	fail = false
	cancel()
	if get("/readyz") != 503 || get("/healthz") != 200 {
		t.Error("ready while draining")
	}
}

func TestStates(t *testing.T) {
	notYet := errors.New("not attached yet")
	s := NewStates(map[string]error{"consumer": notYet})
	c := s.Check("consumer")
	if c.Name != "consumer" || !errors.Is(c.Fn(context.Background()), notYet) {
		t.Fatalf("check before Set: %v", c.Fn(context.Background()))
	}
	s.Set("consumer", nil)
	if err := c.Fn(context.Background()); err != nil {
		t.Errorf("check after Set(nil) = %v", err)
	}
	if s.Get("unknown") != nil {
		t.Error("an unknown state is not nil")
	}
}
