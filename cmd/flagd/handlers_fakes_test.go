package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/flagstream/flagstream/internal/httpapi"
	"github.com/flagstream/flagstream/internal/httpapi/httpapitest"
	"github.com/flagstream/flagstream/pkg/events"
	"github.com/flagstream/flagstream/pkg/flags"
)

// What the handler tests run against instead of Redis and NATS: a flag store
// in memory, a flags.Client built from a list of flags, and the api's publish
// and storeRaw seams recording what they get. The integration tests
// (api_test.go and the others) run flagd whole against real servers.

// memStore is a flagStore in memory. It keeps the *flags.Store contract the
// handlers rely on: writes validate first (Flag.Validate, as Store.put does),
// versions go up by one per write, a bad key reads as ErrNotFound, an
// If-Match version that moved is ErrConflict, an advance past the last stage
// is ErrRolloutEnd. down, when set, fails every call as a Redis that is away.
type memStore struct {
	mu       sync.Mutex
	flags    map[string]*flags.Flag
	rollouts map[string]*flags.Rollout
	broken   []*flags.LoadError // what All reports as unreadable
	down     error
}

var _ flagStore = (*memStore)(nil)

func newMemStore(fs ...*flags.Flag) *memStore {
	s := &memStore{flags: map[string]*flags.Flag{}, rollouts: map[string]*flags.Rollout{}}
	for _, f := range fs {
		c := *f
		s.flags[f.Key] = c.Prepare()
	}
	return s
}

func (s *memStore) setDown(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.down = err
}

func (s *memStore) All(context.Context) ([]*flags.Flag, []*flags.LoadError, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.down != nil {
		return nil, nil, s.down
	}
	out := make([]*flags.Flag, 0, len(s.flags))
	for _, f := range s.flags {
		out = append(out, f)
	}
	return out, slices.Clone(s.broken), nil
}

func (s *memStore) Get(_ context.Context, key string) (*flags.Flag, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.get(key)
}

func (s *memStore) get(key string) (*flags.Flag, error) {
	if s.down != nil {
		return nil, s.down
	}
	if err := flags.CheckKey(key); err != nil {
		return nil, fmt.Errorf("%w: key %s", flags.ErrNotFound, err)
	}
	f, ok := s.flags[key]
	if !ok {
		return nil, fmt.Errorf("flag %q: %w", key, flags.ErrNotFound)
	}
	return f, nil
}

func (s *memStore) Put(_ context.Context, f *flags.Flag) (*flags.Flag, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.put(f, -1)
}

func (s *memStore) PutIfVersion(_ context.Context, f *flags.Flag, expected int64) (*flags.Flag, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.put(f, expected)
}

// put writes f as the next version; expect -1 takes any stored version.
func (s *memStore) put(f *flags.Flag, expect int64) (*flags.Flag, error) {
	if s.down != nil {
		return nil, s.down
	}
	if err := f.Validate(); err != nil {
		return nil, err
	}
	var cur int64
	if old, ok := s.flags[f.Key]; ok {
		cur = old.Version
	}
	if expect >= 0 && cur != expect {
		return nil, fmt.Errorf("write flag %q: %w (expected version %d, stored %d)", f.Key, flags.ErrConflict, expect, cur)
	}
	stored := *f
	stored.Version = cur + 1
	s.flags[f.Key] = stored.Prepare()
	return s.flags[f.Key], nil
}

func (s *memStore) Delete(_ context.Context, key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.get(key); err != nil {
		return err
	}
	delete(s.flags, key)
	delete(s.rollouts, key)
	return nil
}

func (s *memStore) GetRollout(_ context.Context, key string) (*flags.Rollout, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.get(key); err != nil {
		return nil, err
	}
	r, ok := s.rollouts[key]
	if !ok {
		return nil, fmt.Errorf("rollout of %q: %w", key, flags.ErrNotFound)
	}
	return r, nil
}

func (s *memStore) CreateRollout(_ context.Context, key string, stages []flags.Stage) (*flags.Rollout, *flags.Flag, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.moveRollout(key, false, func(*flags.Rollout) (*flags.Rollout, error) {
		return &flags.Rollout{Flag: key, Stages: stages, Status: flags.RolloutActive}, nil
	})
}

func (s *memStore) AdvanceRollout(_ context.Context, key string) (*flags.Rollout, *flags.Flag, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.moveRollout(key, true, func(r *flags.Rollout) (*flags.Rollout, error) {
		if r.CurrentStage >= len(r.Stages)-1 {
			return nil, fmt.Errorf("rollout of %q: %w", key, flags.ErrRolloutEnd)
		}
		next := *r
		next.CurrentStage++
		return &next, nil
	})
}

func (s *memStore) RollbackRollout(_ context.Context, key string) (*flags.Rollout, *flags.Flag, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.moveRollout(key, true, func(r *flags.Rollout) (*flags.Rollout, error) {
		next := *r
		if r.CurrentStage == 0 {
			next.Status = flags.RolloutDisabled
		} else {
			next.CurrentStage--
		}
		return &next, nil
	})
}

// moveRollout applies the next plan's stage to the flag as a new version:
// status percentage (disabled once rolled back from stage 0) and the
// stage's percentage.
func (s *memStore) moveRollout(key string, needPlan bool, step func(*flags.Rollout) (*flags.Rollout, error)) (*flags.Rollout, *flags.Flag, error) {
	f, err := s.get(key)
	if err != nil {
		return nil, nil, err
	}
	cur, ok := s.rollouts[key]
	if needPlan && !ok {
		return nil, nil, fmt.Errorf("rollout of %q: %w", key, flags.ErrNotFound)
	}
	next, err := step(cur)
	if err != nil {
		return nil, nil, err
	}
	nf := *f
	nf.Status = flags.StatusPercentage
	if next.Status == flags.RolloutDisabled {
		nf.Status = flags.StatusDisabled
	}
	if p := next.Stages[next.CurrentStage].Percentage; p != nil {
		nf.Percentage = *p
	}
	stored, err := s.put(&nf, f.Version)
	if err != nil {
		return nil, nil, err
	}
	s.rollouts[key] = next
	return next, stored, nil
}

// handlerFlags are the flags the handler tests evaluate: fresh copies, since
// a client prepares (and so owns) the flags it is given.
func handlerFlags() []*flags.Flag {
	return []*flags.Flag{
		{Key: "new_checkout_flow", Status: flags.StatusEnabled, Version: 1},
		{Key: "pricing_page_experiment", Status: flags.StatusEnabled, Version: 4,
			Variants: flags.Variants{{Name: "control", Weight: 50}, {Name: "variant_a", Weight: 25}, {Name: "variant_b", Weight: 25}},
			Metadata: map[string]any{"owner": "growth", "tags": []any{"x"}}},
		{Key: "dark_mode", Status: flags.StatusPercentage, Percentage: 25, Version: 2},
		{Key: "paused_test", Status: flags.StatusDisabled, Version: 3,
			Variants: flags.Variants{{Name: "control", Weight: 50}, {Name: "treatment", Weight: 50}}},
	}
}

// Users whose answers the seed's buckets fix (pkg/flags pins the buckets
// against the seed's Python): pricing_page_experiment gives user_789 control
// and user_2 variant_a; dark_mode (25%) is on for user_789 (bucket 20.2) and
// off for user_001 (bucket 73.0).
const (
	userControl  = "user_789"
	userVariantA = "user_2"
	userDarkOff  = "user_001"
)

// harness is one api with its real mux (api.handler), run in memory:
// requests go to the handler through httptest, no listener, no server.
type harness struct {
	api     *api
	store   *memStore
	handler http.Handler

	mu         sync.Mutex
	exposures  []flags.Exposure // what single evaluations exposed (the client's OnExposure)
	published  []events.Event   // what POST /v1/exposures handed to publish
	stored     []events.Event   // what POST /v1/track handed to storeRaw
	bufferFull bool             // publish refuses, as a full exposure buffer does
	storeErr   error            // storeRaw fails with it, as JetStream away does
}

// newHarness serves handlerFlags with flags loaded, no tokens (every route
// open, as flagd on loopback without a tokens file) and event streams on.
func newHarness(t *testing.T) *harness { return newHarnessWithTokens(t, httpapi.Tokens{}) }

func newHarnessWithTokens(t *testing.T, tokens httpapi.Tokens) *harness {
	t.Helper()
	h := &harness{store: newMemStore(handlerFlags()...)}
	m := newMetrics()
	h.api = &api{store: h.store, tokens: tokens, metrics: m, log: zerolog.Nop(), window: events.DefaultWindow(),
		publish: func(e events.Event) bool {
			h.mu.Lock()
			defer h.mu.Unlock()
			if h.bufferFull {
				return false
			}
			h.published = append(h.published, e)
			return true
		},
		storeRaw: func(_ context.Context, evs []events.Event) error {
			h.mu.Lock()
			defer h.mu.Unlock()
			if h.storeErr != nil {
				return h.storeErr
			}
			h.stored = append(h.stored, evs...)
			return nil
		},
	}
	h.api.client.Store(flags.NewStaticClient(handlerFlags(), flags.ClientOptions{OnExposure: func(e flags.Exposure) {
		h.mu.Lock()
		defer h.mu.Unlock()
		h.exposures = append(h.exposures, e)
	}}))
	h.api.streams = newStreamHub(streamOptions{max: 10, heartbeat: time.Minute, tokens: tokens.Enabled(),
		keys: tokens.MACKeys(httpapi.ScopeEvaluate)}, zerolog.Nop(), m.registry, h.api.client.Load)
	health := httpapi.NewHealth(t.Context(), httpapi.Check{Name: "flags", Fn: func(context.Context) error { return h.api.loaded() }})
	health.Tokens = &tokens
	h.handler = h.api.handler(health, m.registry)
	return h
}

// unload makes the api as it is before the first load from Redis.
func (h *harness) unload() { h.api.client.Store(nil) }

func (h *harness) setBufferFull(full bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.bufferFull = full
}

func (h *harness) setStoreErr(err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.storeErr = err
}

// takeExposures returns what single evaluations exposed since the last call.
func (h *harness) takeExposures() []flags.Exposure {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := h.exposures
	h.exposures = nil
	return out
}

func (h *harness) takePublished() []events.Event {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := h.published
	h.published = nil
	return out
}

func (h *harness) takeStored() []events.Event {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := h.stored
	h.stored = nil
	return out
}

// do sends one request through the mux; body is the raw request body ("":
// none) and headers come in name, value pairs.
func (h *harness) do(t *testing.T, method, path, body string, headers ...string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequestWithContext(t.Context(), method, path, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	rec := httptest.NewRecorder()
	h.handler.ServeHTTP(rec, req)
	return rec
}

// expect is do that fails the test unless the answer has the status, and
// decodes the answer into T, refusing fields T does not have: the shape is
// part of what the tests check.
func expect[T any](t *testing.T, h *harness, status int, method, path, body string, headers ...string) T {
	t.Helper()
	rec := h.do(t, method, path, body, headers...)
	if rec.Code != status {
		t.Fatalf("%s %s %.80s = %d %s, want %d", method, path, body, rec.Code, rec.Body, status)
	}
	return httpapitest.Decode[T](t, rec)
}

// Answers the package has no type for, as the handlers write them.

// ofrepAnswer is an OFREP evaluation, success or failure (the bulk answer
// mixes both). Value stays raw: a boolean, a variant name, or absent.
type ofrepAnswer struct {
	Key          string          `json:"key"`
	Value        json.RawMessage `json:"value"`
	Reason       string          `json:"reason"`
	Variant      string          `json:"variant"`
	Metadata     *ofrepMetadata  `json:"metadata"`
	ErrorCode    string          `json:"errorCode"`
	ErrorDetails string          `json:"errorDetails"`
}

// ofrepMetadata holds the version and the one scalar metadata entry of
// handlerFlags (owner); a list entry (tags) must not appear.
type ofrepMetadata struct {
	Version int64  `json:"version"`
	Owner   string `json:"owner"`
}

type ofrepBulkAnswer struct {
	Flags        []ofrepAnswer `json:"flags"`
	EventStreams []struct {
		Type     string `json:"type"`
		Endpoint struct {
			RequestURI string `json:"requestUri"`
		} `json:"endpoint"`
		InactivityDelaySec int `json:"inactivityDelaySec"`
	} `json:"eventStreams"`
}

type evaluationList struct {
	Flags []evaluation `json:"flags"`
}

type flagList struct {
	Flags      []flags.Flag `json:"flags"`
	Unreadable []struct {
		Key   string `json:"key"`
		Error string `json:"error"`
	} `json:"unreadable"`
}

type seedNames struct {
	Flags []string `json:"flags"`
}

type seedSuccess struct {
	Success bool `json:"success"`
}

type exposureResults struct {
	Results []exposureResult `json:"results"`
}

type trackAnswer struct {
	ID string `json:"id"`
}

type healthAnswer struct {
	Status string `json:"status"`
}

type readyAnswer struct {
	Ready    bool              `json:"ready"`
	Checks   map[string]string `json:"checks"`
	Warnings map[string]string `json:"warnings"`
}
