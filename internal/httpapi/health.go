package httpapi

import (
	"context"
	"net/http"
	"sync"
	"time"
)

// Check is one readiness probe: nil when the dependency answers. A Warn
// check does not make the service unready: when it fails, /readyz stays 200
// and lists it under "warnings" (something an operator must look at, such
// as events lost, while the service can still do its work).
type Check struct {
	Name string
	Fn   func(ctx context.Context) error
	Warn bool
}

// Health serves /healthz (the process is alive) and /readyz (every check
// passes, within two seconds). /readyz turns 503 once draining is set.
//
// /readyz is open to everyone (load balancers and container healthchecks
// carry no token), but a check's message may name addresses, users or
// internals. So it says only which check fails ("unavailable", or "failing"
// for a warning) unless the caller may see more: with tokens configured, a
// caller with a read token (admin implies read); without tokens, everyone,
// since the service then listens on loopback only. Tokens nil (not told)
// shows the messages to nobody.
type Health struct {
	Checks   []Check
	Tokens   *Tokens
	draining func() bool
}

// What /readyz says of a failing check to a caller who may not see its message.
const (
	hiddenUnavailable = "unavailable"
	hiddenWarning     = "failing"
)

// NewHealth returns a Health whose /readyz also fails once ctx is done, so a
// load balancer stops sending work before the server drains. Set Tokens (or
// use service.Base.Health) to show the checks' messages to those allowed.
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

// detail reports whether r may see the checks' messages.
func (h *Health) detail(r *http.Request) bool {
	if h.Tokens == nil {
		return false
	}
	return h.Tokens.check(bearer(r), ScopeRead) == nil
}

func (h *Health) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	detail := h.detail(r)
	checks, warnings := map[string]string{}, map[string]string{}
	ok := true
	if h.draining != nil && h.draining() {
		checks["shutdown"] = "draining"
		ok = false
	}
	for _, c := range h.Checks {
		err := c.Fn(ctx)
		switch {
		case err == nil:
			checks[c.Name] = "ok"
		case c.Warn:
			checks[c.Name] = "warning"
			warnings[c.Name] = hiddenWarning
			if detail {
				warnings[c.Name] = err.Error()
			}
		default:
			checks[c.Name] = hiddenUnavailable
			if detail {
				checks[c.Name] = err.Error()
			}
			ok = false
		}
	}
	status := http.StatusOK
	if !ok {
		status = http.StatusServiceUnavailable
	}
	WriteJSON(w, status, map[string]any{"ready": ok, "checks": checks, "warnings": warnings})
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
