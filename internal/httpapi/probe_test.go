package httpapi

import (
	"context"
	"errors"
	"flag"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestProbeURL(t *testing.T) {
	for _, tt := range []struct{ addr, want string }{
		{"0.0.0.0:8080", "http://127.0.0.1:8080/readyz"},
		{":8081", "http://127.0.0.1:8081/readyz"},
		{"[::]:8082", "http://127.0.0.1:8082/readyz"},
		{"127.0.0.1:9", "http://127.0.0.1:9/readyz"},
		{"[::1]:9", "http://[::1]:9/readyz"},
		{"flagd.internal:80", "http://flagd.internal:80/readyz"},
	} {
		if got, err := ProbeURL(tt.addr); err != nil || got != tt.want {
			t.Errorf("ProbeURL(%q) = %q, %v; want %q", tt.addr, got, err, tt.want)
		}
	}
	if _, err := ProbeURL("8080"); err == nil {
		t.Error("ProbeURL(8080) should fail: no port")
	}
}

// readyServer serves /readyz with a Health whose one check returns *fail.
func readyServer(t *testing.T, fail *error) string {
	t.Helper()
	mux := http.NewServeMux()
	h := NewHealth(context.Background(), Check{Name: "redis", Fn: func(context.Context) error { return *fail }})
	h.Tokens = &Tokens{} // no tokens: /readyz shows the checks' messages
	h.Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	return "0.0.0.0:" + port // as a service in a container is configured
}

func TestProbe(t *testing.T) {
	var fail error
	addr := readyServer(t, &fail)
	if err := Probe(context.Background(), addr); err != nil {
		t.Fatalf("Probe of a ready service = %v", err)
	}

	fail = errors.New("dial tcp: connection refused")
	err := Probe(context.Background(), addr)
	if err == nil || !strings.Contains(err.Error(), "503") || !strings.Contains(err.Error(), "connection refused") ||
		strings.Contains(err.Error(), "\n") {
		t.Errorf("Probe of an unready service = %v, want one line with 503 and the failing check", err)
	}

	// Nothing listening: a port just freed.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	l.Close()
	err = Probe(context.Background(), closed)
	if err == nil || !strings.Contains(err.Error(), "refused") {
		t.Errorf("Probe of a closed port = %v, want connection refused", err)
	}
}

// Healthcheck reads the address as the service does: FLAGSTREAM_HTTP_ADDR.
func TestHealthcheck(t *testing.T) {
	var fail error
	addr := readyServer(t, &fail)
	getenv := func(k string) string {
		if k == "FLAGSTREAM_HTTP_ADDR" {
			return addr
		}
		return ""
	}
	if err := Healthcheck(context.Background(), "flagd", nil, getenv); err != nil {
		t.Errorf("Healthcheck = %v", err)
	}
	if err := Healthcheck(context.Background(), "flagd", []string{"-h"}, getenv); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("Healthcheck -h = %v, want a help request", err)
	}
	if err := Healthcheck(context.Background(), "flagd", []string{"--http-addr", "nonsense"}, getenv); err == nil ||
		!strings.Contains(err.Error(), "http-addr") {
		t.Errorf("Healthcheck with a bad address = %v", err)
	}
}
