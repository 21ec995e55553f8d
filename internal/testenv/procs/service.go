// Package procs runs flagstream's commands for tests: built and started as
// child processes, or run in the test process, each on a free loopback port
// and stopped when the test ends; and talks to them over HTTP.
package procs

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flagstream/flagstream/internal/testenv"
)

// RunFunc is a command's run function: each main stays thin.
type RunFunc func(ctx context.Context, args []string, getenv func(string) string, out io.Writer) error

// Logs collects a running service's log lines; safe for concurrent use.
type Logs struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *Logs) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *Logs) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// Service is a flagstream command started in the test process.
type Service struct {
	URL  string
	Logs *Logs
	Env  map[string]string
	stop func() error
}

// Stop cancels the service's context and waits for run to return (at most
// 20 s); it returns run's error. Calling it again returns the same.
func (s *Service) Stop() error { return s.stop() }

var listening = regexp.MustCompile(`"addr":"([^"]+)"[^\n]*"message":"listening"`)

// Start runs a command with the given environment (FLAGSTREAM_HTTP_ADDR
// should be 127.0.0.1:0), waits for its "listening" log line and then until
// /readyz answers 200 (at most 20 s). The service stops when the test ends.
func Start(t testing.TB, run RunFunc, env map[string]string) *Service {
	t.Helper()
	vars := make(map[string]string, len(env))
	for k, v := range env {
		vars[k] = v
	}
	logs := &Logs{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, nil, func(k string) string { return vars[k] }, logs) }()
	var once sync.Once
	var runErr error
	stop := func() error {
		once.Do(func() {
			cancel()
			select {
			case runErr = <-done:
			case <-time.After(20 * time.Second):
				runErr = fmt.Errorf("service did not stop within 20 s")
			}
		})
		return runErr
	}
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("service stopped with %v", err)
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	var url string
	for url == "" {
		if m := listening.FindStringSubmatch(logs.String()); m != nil {
			url = "http://" + m[1]
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("service did not listen within 20 s:\n%s", logs.String())
		}
		select {
		case err := <-done:
			t.Fatalf("service exited: %v\n%s", err, logs.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
	s := &Service{URL: url, Logs: logs, Env: vars, stop: stop}
	for time.Now().Before(deadline) {
		if r, err := http.Get(url + "/readyz"); err == nil {
			r.Body.Close()
			if r.StatusCode == http.StatusOK {
				return s
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("service not ready within 20 s:\n%s", logs.String())
	return nil
}

// Response is a finished HTTP exchange.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// JSON decodes the body as a JSON object, failing the test otherwise.
func (r Response) JSON(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		t.Fatalf("response %d is not a JSON object: %s", r.Status, r.Body)
	}
	return m
}

// Do sends a request to the service; body may be nil, a string (sent as is)
// or any value (sent as JSON); headers are name, value pairs.
func (s *Service) Do(t testing.TB, method, path string, body any, headers ...string) Response {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		enc, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(enc)
	}
	req, err := http.NewRequest(method, s.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return Response{Status: resp.StatusCode, Header: resp.Header, Body: b}
}

// Expect sends a request, checks the status, and returns the JSON body (nil
// when empty).
func (s *Service) Expect(t testing.TB, status int, method, path string, body any, headers ...string) map[string]any {
	t.Helper()
	r := s.Do(t, method, path, body, headers...)
	if r.Status != status {
		t.Fatalf("%s %s = %d %s, want %d", method, path, r.Status, r.Body, status)
	}
	if len(r.Body) == 0 {
		return nil
	}
	return r.JSON(t)
}

// ServiceEnv is the environment for a service on this test's namespaces of
// the shared Redis and NATS (several services started with the same map share
// them). The map may be extended before Start.
func ServiceEnv(t testing.TB) map[string]string {
	t.Helper()
	_, prefix := testenv.Redis(t)
	_, ns := testenv.NATS(t)
	return map[string]string{
		"FLAGSTREAM_REDIS_URL":      testenv.Lookup(t, testenv.RedisURLVar),
		"FLAGSTREAM_REDIS_PREFIX":   prefix,
		"FLAGSTREAM_NATS_URL":       testenv.NATSURL(t),
		"FLAGSTREAM_NATS_NAMESPACE": ns,
		"FLAGSTREAM_HTTP_ADDR":      "127.0.0.1:0",
		// Room for a test's backlog, and no more: a test that fills a
		// stream sets its own.
		"FLAGSTREAM_STREAM_MAX_MESSAGES": "200000",
	}
}

// Metric sums the samples of a Prometheus metric (every label set) on the
// service's /metrics. A metric with labels is absent until its first sample,
// so an absent name reads as 0: wait for a value above 0 rather than test
// for 0.
func (s *Service) Metric(t testing.TB, name string) float64 {
	t.Helper()
	r := s.Do(t, http.MethodGet, "/metrics", nil)
	if r.Status != http.StatusOK {
		t.Fatalf("GET /metrics = %d %s", r.Status, r.Body)
	}
	var sum float64
	for _, line := range strings.Split(string(r.Body), "\n") {
		if !strings.HasPrefix(line, name+" ") && !strings.HasPrefix(line, name+"{") {
			continue
		}
		f := strings.Fields(line)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err != nil {
			t.Fatalf("metric line %q: %v", line, err)
		}
		sum += v
	}
	return sum
}

// WaitMetric polls a metric (see Metric) until ok accepts its value, and
// returns that value; it fails the test after within.
func (s *Service) WaitMetric(t testing.TB, name string, within time.Duration, ok func(float64) bool) float64 {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		v := s.Metric(t, name)
		if ok(v) {
			return v
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s is still %v after %v", name, v, within)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// WaitLog waits until the service's log holds every one of parts on one
// line (for example `"dependency":"redis"`, which shows that the service met
// a dependency's outage), and returns that line; it fails the test after
// within.
func (s *Service) WaitLog(t testing.TB, within time.Duration, parts ...string) string {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		for _, line := range strings.Split(s.Logs.String(), "\n") {
			all := true
			for _, p := range parts {
				all = all && strings.Contains(line, p)
			}
			if all {
				return line
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no log line with %q within %v:\n%s", parts, within, s.Logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}
