package httpapi

import (
	"context"
	"net/http"
	"sync"
	"time"
)

// Check is one readiness probe: nil when the dependency answers.
type Check struct {
	Name string
	Fn   func(ctx context.Context) error
}

// Health serves /healthz (the process is alive) and /readyz (every check
// passes, within two seconds). /readyz turns 503 once draining is set.
type Health struct {
	Checks   []Check
	draining func() bool
}

// NewHealth returns a Health whose /readyz also fails once ctx is done, so a
// load balancer stops sending work before the server drains.
func NewHealth(ctx context.Context, checks ...Check) *Health {
	return &Health{Checks: checks, draining: func() bool { return ctx.Err() != nil }}
}

// Register adds /healthz and /readyz to mux.
func (h *Health) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", h.readyz)
}

func (h *Health) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	checks := map[string]string{}
	ok := true
	if h.draining != nil && h.draining() {
		checks["shutdown"] = "draining"
		ok = false
	}
	for _, c := range h.Checks {
		if err := c.Fn(ctx); err != nil {
			checks[c.Name] = err.Error()
			ok = false
		} else {
			checks[c.Name] = "ok"
		}
	}
	status := http.StatusOK
	if !ok {
		status = http.StatusServiceUnavailable
	}
	WriteJSON(w, status, map[string]any{"ready": ok, "checks": checks})
}

// States records the last outcome of a service's background work (its
// consumer attached, its migrations applied), for /readyz. Safe for
// concurrent use.
type States struct {
	mu sync.Mutex
	m  map[string]error
}

// NewStates starts with the given outcomes (typically "not yet" errors).
func NewStates(initial map[string]error) *States {
	m := make(map[string]error, len(initial))
	for k, v := range initial {
		m[k] = v
	}
	return &States{m: m}
}

// Set records the outcome of name (nil: fine).
func (s *States) Set(name string, err error) {
	s.mu.Lock()
	s.m[name] = err
	s.mu.Unlock()
}

// Get returns the last outcome of name.
func (s *States) Get(name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.m[name]
}

// Check is a readiness check on name's last outcome.
func (s *States) Check(name string) Check {
	return Check{Name: name, Fn: func(context.Context) error { return s.Get(name) }}
}
