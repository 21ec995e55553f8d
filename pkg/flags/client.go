package flags

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// Exposure is what the OnExposure hook receives: an evaluation put a user into
// a variant by the bucket.
type Exposure struct {
	Flag    string
	Variant string
	UserID  string
	Version int64
	// Weights are the flag's variant weights (name → weight) at the
	// evaluation, so that reports can check the split; shared between
	// exposures of one flag version: read-only.
	Weights map[string]float64
	// Control is the flag's first variant's name: the arm reports compare the
	// others against unless the request names one (DESIGN.md: the control is
	// the first variant). "" only for a flag without variants, which exposes
	// nothing.
	Control string
}

// ClientOptions configures a Client. The zero value is usable.
type ClientOptions struct {
	// ResyncInterval is how often every flag is reloaded, so that a missed
	// change notice heals. Default 30s.
	ResyncInterval time.Duration
	// OnExposure, if set, is called synchronously for each evaluation that
	// assigns a variant. It must be fast and must not block (flagd hands the
	// exposure to a bounded buffer).
	OnExposure func(Exposure)
	// OnProblem, if set, is called once per flag version that the admin API
	// would refuse but that is served anyway (see [Flag.Problem]), and for flags
	// that cannot be decoded at all (then the flag is not served).
	OnProblem func(key string, err error)
	// OnError, if set, is called when a reload from Redis fails; the client keeps
	// serving the flags it has and tries again.
	OnError func(err error)
	// OnChange, if set, is called on the client's update goroutine after the
	// snapshot changed, with the keys of the flags that were added, removed
	// or got another version (sorted). It must not block: event streams fan
	// it out (flagd's ADR 0008 streams).
	OnChange func(keys []string)
}

// snapshot is an immutable view of all flags; a new one replaces it whole.
type snapshot struct {
	flags    map[string]*Flag
	keys     []string  // sorted, for bulk evaluation in a stable order
	loadedAt time.Time // time of the last full resync
}

func newSnapshot(m map[string]*Flag, loadedAt time.Time) *snapshot {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return &snapshot{flags: m, keys: keys, loadedAt: loadedAt}
}

// Client keeps every flag in memory and evaluates without touching Redis.
// Reads take no lock: they load an atomically swapped immutable snapshot. One
// goroutine applies change notices and the periodic resync, so updates are
// serialised. Safe for concurrent use; Close stops its goroutines.
type Client struct {
	store *Store
	opts  ClientOptions
	snap  atomic.Pointer[snapshot]

	cancel  context.CancelFunc
	done    chan struct{}
	once    sync.Once
	reloads chan reloadRequest // Reload's requests to the update goroutine

	problemsMu sync.Mutex
	reported   map[string]int64 // key → version whose problem was reported
}

// NewClient loads every flag and starts following changes. It fails if the
// first load fails (the caller decides whether to retry).
func NewClient(ctx context.Context, store *Store, opts ClientOptions) (*Client, error) {
	if opts.ResyncInterval <= 0 {
		opts.ResyncInterval = 30 * time.Second
	}
	c := &Client{store: store, opts: opts, done: make(chan struct{}), reloads: make(chan reloadRequest), reported: map[string]int64{}}
	// Subscribe before the first load: a change made in between is then
	// either in the load or in a notice, never in neither.
	bg, cancel := context.WithCancel(context.WithoutCancel(ctx))
	c.cancel = cancel
	sub := store.rdb.Subscribe(bg, store.keys.channel)
	if _, err := sub.Receive(ctx); err != nil { // wait for the subscription confirmation
		cancel()
		_ = sub.Close()
		return nil, fmt.Errorf("subscribe to %s: %w", store.keys.channel, err)
	}
	if err := c.resync(ctx); err != nil {
		cancel()
		_ = sub.Close()
		return nil, err
	}
	go c.follow(bg, sub)
	return c, nil
}

// Evaluate evaluates a flag from memory and reports an exposure through
// OnExposure when the result assigns a variant.
func (c *Client) Evaluate(key string, ec EvalContext) Result {
	_, r := c.evaluate(c.snap.Load(), key, &ec)
	return r
}

// EvaluateFlag is Evaluate that also returns the flag the result came from
// (nil when there is none), both from one snapshot: a caller that needs the
// flag too (its metadata, whether it has variants) must not look it up
// separately, or a change in between pairs one version's flag with another's
// result, or a missing flag with a found result.
func (c *Client) EvaluateFlag(key string, ec EvalContext) (*Flag, Result) {
	return c.evaluate(c.snap.Load(), key, &ec)
}

// View is one snapshot of the client's flags: everything read through it
// belongs to the same moment, however the flags change meanwhile. A request
// that evaluates several flags (bulk evaluation) takes one View for all of
// them. A View is a small value; taking one does not allocate.
type View struct {
	c    *Client
	snap *snapshot
}

// View returns the flags as they are now.
func (c *Client) View() View { return View{c: c, snap: c.snap.Load()} }

// Keys returns the names of the view's flags, sorted. The slice must not be modified.
func (v View) Keys() []string { return v.snap.keys }

// Flag returns the view's flag, or nil. The flag must not be modified.
func (v View) Flag(key string) *Flag { return v.snap.flags[key] }

// Evaluate evaluates a flag of the view, reports an exposure through the
// client's OnExposure when the result assigns a variant, and returns the flag
// with the result (nil when the view has no such flag).
func (v View) Evaluate(key string, ec EvalContext) (*Flag, Result) {
	return v.c.evaluate(v.snap, key, &ec)
}

// Peek evaluates a flag of the view without reporting an exposure: for
// answers a user may never see (bulk evaluation by web and mobile apps,
// which report exposures on use).
func (v View) Peek(key string, ec EvalContext) (*Flag, Result) {
	f := v.snap.flags[key]
	return f, Evaluate(f, ec)
}

// NewExposure is the exposure of result r of flag f for user, as OnExposure
// receives it, and false when r puts nobody into a variant.
func NewExposure(f *Flag, r Result, user string) (Exposure, bool) {
	if !r.Exposed() {
		return Exposure{}, false
	}
	e := Exposure{Flag: f.Key, Variant: r.Variant, UserID: user, Version: r.Version}
	if f.prep != nil { // always, for flags the client loaded
		e.Weights = f.prep.weights
	}
	// Exposed implies a variant, so Variants is not empty; the name is a
	// string header copy, no allocation.
	e.Control = f.Variants[0].Name
	return e, true
}

// evaluate is every evaluation of the client: one snapshot's flag, its result
// and the exposure. The context goes by pointer, so the call copies no
// EvalContext (the client benchmarks measure it).
func (c *Client) evaluate(s *snapshot, key string, ec *EvalContext) (*Flag, Result) {
	f := s.flags[key]
	r := Evaluate(f, *ec)
	if c.opts.OnExposure != nil {
		if e, ok := NewExposure(f, r, ec.UserID); ok {
			c.opts.OnExposure(e)
		}
	}
	return f, r
}

// Flag returns the cached flag, or nil. The flag must not be modified. Flag
// and Evaluate called one after the other read two snapshots: to evaluate and
// describe a flag, use EvaluateFlag or a View.
func (c *Client) Flag(key string) *Flag { return c.snap.Load().flags[key] }

// Flags returns every cached flag, keyed by name. The map and flags must not
// be modified.
func (c *Client) Flags() map[string]*Flag { return c.snap.Load().flags }

// Keys returns the names of every cached flag, sorted. The slice must not be modified.
func (c *Client) Keys() []string { return c.snap.Load().keys }

// LastResync is the time of the last successful full reload.
func (c *Client) LastResync() time.Time { return c.snap.Load().loadedAt }

// Close stops following changes. Evaluations keep answering from the last snapshot.
func (c *Client) Close() error {
	c.once.Do(func() {
		c.cancel()
		<-c.done
	})
	return nil
}

func (c *Client) follow(ctx context.Context, sub *redis.PubSub) {
	defer close(c.done)
	defer sub.Close()
	// ChannelWithSubscriptions also delivers the re-subscription go-redis makes
	// after a lost connection; notices sent while it was away are lost, so a
	// resync follows.
	msgs := sub.ChannelWithSubscriptions()
	tick := time.NewTicker(c.opts.ResyncInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			c.report(c.resync(ctx))
		case m, ok := <-msgs:
			if !ok {
				return
			}
			switch m := m.(type) {
			case *redis.Subscription:
				if m.Kind == "subscribe" {
					c.report(c.resync(ctx))
				}
			case *redis.Message:
				c.report(c.apply(ctx, m.Payload))
			}
		case r := <-c.reloads:
			r.done <- c.load(ctx, r.key)
		}
	}
}

type reloadRequest struct {
	key  string
	done chan error
}

// ErrClosed is returned by Reload after Close.
var ErrClosed = errors.New("flags: client closed")

// Reload reads one flag from Redis into the snapshot now, as its change
// notice will. A writer that also evaluates (flagd after its admin writes)
// calls it to serve its own write from the next request on; other clients
// follow when the notice arrives. It runs on the update goroutine, so updates
// stay serialised, and returns once the snapshot holds what Redis held.
func (c *Client) Reload(ctx context.Context, key string) error {
	r := reloadRequest{key: key, done: make(chan error, 1)}
	select {
	case c.reloads <- r:
	case <-c.done:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-r.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (c *Client) report(err error) {
	if err != nil && c.opts.OnError != nil && !errors.Is(err, context.Canceled) {
		c.opts.OnError(err)
	}
}

// resync replaces the snapshot with everything in Redis.
func (c *Client) resync(ctx context.Context) error {
	flags, broken, err := c.store.All(ctx)
	if err != nil {
		return fmt.Errorf("resync flags: %w", err)
	}
	m := make(map[string]*Flag, len(flags))
	for _, f := range flags {
		m[f.Key] = f
		c.checkProblem(f)
	}
	for _, b := range broken {
		c.problem(b.Key, -1, b)
	}
	old := c.snap.Load()
	c.snap.Store(newSnapshot(m, time.Now()))
	if c.opts.OnChange != nil && old != nil { // nil: the first load, before anyone could listen
		if keys := changedKeys(old.flags, m); len(keys) > 0 {
			c.opts.OnChange(keys)
		}
	}
	return nil
}

// changedKeys are the keys added, removed or with another version from old
// to cur, sorted.
func changedKeys(old, cur map[string]*Flag) []string {
	var keys []string
	for k, f := range cur {
		if o, ok := old[k]; !ok || o.Version != f.Version {
			keys = append(keys, k)
		}
	}
	for k := range old {
		if _, ok := cur[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}

// apply handles one change notice by reloading that flag.
func (c *Client) apply(ctx context.Context, payload string) error {
	var ch Change
	if err := json.Unmarshal([]byte(payload), &ch); err != nil || ch.Flag == "" {
		return fmt.Errorf("change notice %q: not {\"action\":...,\"flag\":...}", truncate(payload, 200))
	}
	return c.load(ctx, ch.Flag)
}

// load reads one flag into the snapshot (removing it if Redis has none).
func (c *Client) load(ctx context.Context, key string) error {
	f, err := c.store.Get(ctx, key)
	var broken *LoadError
	switch {
	case errors.Is(err, ErrNotFound):
		c.replace(key, nil)
		return nil
	case errors.As(err, &broken): // unreadable data is not served, as in a resync
		c.problem(key, -1, broken)
		c.replace(key, nil)
		return nil
	case err != nil:
		return err // Redis away: keep what we have; the resync heals
	}
	c.checkProblem(f)
	c.replace(key, f)
	return nil
}

// replace swaps in a copy of the snapshot with one flag changed (nil: removed).
func (c *Client) replace(key string, f *Flag) {
	old := c.snap.Load()
	m := make(map[string]*Flag, len(old.flags)+1)
	for k, v := range old.flags {
		m[k] = v
	}
	if f == nil {
		delete(m, key)
	} else {
		m[key] = f
	}
	c.snap.Store(newSnapshot(m, old.loadedAt))
	if c.opts.OnChange != nil {
		if prev, ok := old.flags[key]; ok != (f != nil) || ok && prev.Version != f.Version {
			c.opts.OnChange([]string{key})
		}
	}
}

func (c *Client) checkProblem(f *Flag) {
	if err := f.Problem(); err != nil {
		c.problem(f.Key, f.Version, err)
	}
}

// problem reports a flag's problem once per version.
func (c *Client) problem(key string, version int64, err error) {
	if c.opts.OnProblem == nil {
		return
	}
	c.problemsMu.Lock()
	v, seen := c.reported[key]
	c.reported[key] = version
	c.problemsMu.Unlock()
	if !seen || v != version {
		c.opts.OnProblem(key, err)
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
