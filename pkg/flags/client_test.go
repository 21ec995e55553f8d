package flags_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flagstream/flagstream/pkg/flags"
)

// waitFor polls cond every 5 ms until it holds or d passes.
func waitFor(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if cond() {
			return true
		}
		time.Sleep(5 * time.Millisecond)
	}
	return cond()
}

func newClient(t *testing.T, s *flags.Store, opts flags.ClientOptions) *flags.Client {
	t.Helper()
	c, err := flags.NewClient(ctxT(t), s, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestClientFollowsWritesOfAnotherStore(t *testing.T) {
	writer, rdb, prefix := newStore(t)
	ctx := ctxT(t)
	// A second store on its own connection stands for another flagd or app.
	reader := flags.NewStore(rdb, flags.WithKeyPrefix(prefix))
	c := newClient(t, reader, flags.ClientOptions{ResyncInterval: time.Hour})

	if _, err := writer.Put(ctx, &flags.Flag{Key: "checkout", Status: flags.StatusDisabled}); err != nil {
		t.Fatal(err)
	}
	if !waitFor(time.Second, func() bool { f := c.Flag("checkout"); return f != nil && f.Version == 1 }) {
		t.Fatal("created flag not seen within a second")
	}
	if _, err := writer.Put(ctx, &flags.Flag{Key: "checkout", Status: flags.StatusEnabled}); err != nil {
		t.Fatal(err)
	}
	if !waitFor(time.Second, func() bool { return c.Evaluate("checkout", flags.EvalContext{}).Enabled }) {
		t.Fatal("update not seen within a second")
	}
	if err := writer.Delete(ctx, "checkout"); err != nil {
		t.Fatal(err)
	}
	if !waitFor(time.Second, func() bool { return c.Flag("checkout") == nil }) {
		t.Fatal("delete not seen within a second")
	}
	if r := c.Evaluate("checkout", flags.EvalContext{}); r.ErrorCode != flags.ErrorFlagNotFound {
		t.Errorf("deleted flag evaluates to %+v", r)
	}
}

// A change whose notice never went out (written by a tool that does not
// publish) is picked up by the periodic resync.
func TestClientResyncHealsLostNotice(t *testing.T) {
	s, rdb, p := newStore(t)
	ctx := ctxT(t)
	c := newClient(t, s, flags.ClientOptions{ResyncInterval: 200 * time.Millisecond})
	rdb.HSet(ctx, p+"feature_flags:data:silent", map[string]any{"name": "silent", "status": "enabled"})
	rdb.SAdd(ctx, p+"feature_flags", "silent")
	if !waitFor(3*time.Second, func() bool { return c.Flag("silent") != nil }) {
		t.Fatal("flag written without a notice not picked up by the resync")
	}
	if !c.Evaluate("silent", flags.EvalContext{}).Enabled {
		t.Error("resynced flag not enabled")
	}
}

// Reload serves a change at once, without its notice (none is sent here)
// and without waiting for a resync (an hour away); after Close it says so.
func TestClientReloadServesAChangeAtOnce(t *testing.T) {
	s, rdb, p := newStore(t)
	ctx := ctxT(t)
	c, err := flags.NewClient(ctx, s, flags.ClientOptions{ResyncInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	rdb.HSet(ctx, p+"feature_flags:data:quiet", map[string]any{"name": "quiet", "status": "enabled"})
	rdb.SAdd(ctx, p+"feature_flags", "quiet")
	if c.Flag("quiet") != nil {
		t.Fatal("a flag written without a notice is served before any reload")
	}
	if err := c.Reload(ctx, "quiet"); err != nil {
		t.Fatal(err)
	}
	if !c.Evaluate("quiet", flags.EvalContext{}).Enabled {
		t.Fatal("reloaded flag not served")
	}
	rdb.Del(ctx, p+"feature_flags:data:quiet")
	rdb.SRem(ctx, p+"feature_flags", "quiet")
	if err := c.Reload(ctx, "quiet"); err != nil {
		t.Fatal(err)
	}
	if c.Flag("quiet") != nil {
		t.Error("a flag gone from Redis is still served after Reload")
	}
	c.Close()
	if err := c.Reload(ctx, "quiet"); !errors.Is(err, flags.ErrClosed) {
		t.Errorf("Reload after Close = %v, want ErrClosed", err)
	}
}

func TestClientReportsExposuresAndProblems(t *testing.T) {
	s, rdb, p := newStore(t)
	ctx := ctxT(t)
	if _, err := s.Put(ctx, &flags.Flag{Key: "exp", Status: flags.StatusEnabled,
		Variants: flags.Variants{{Name: "control", Weight: 60}, {Name: "treatment", Weight: 40}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(ctx, &flags.Flag{Key: "plain", Status: flags.StatusEnabled}); err != nil {
		t.Fatal(err)
	}
	rdb.HSet(ctx, p+"feature_flags:data:odd", map[string]any{"name": "odd", "status": "enabled", "variants": `{"a": 10}`})
	rdb.SAdd(ctx, p+"feature_flags", "odd")

	var mu sync.Mutex
	var exposures []flags.Exposure
	problems := map[string]int{}
	c := newClient(t, s, flags.ClientOptions{
		OnExposure: func(e flags.Exposure) { mu.Lock(); exposures = append(exposures, e); mu.Unlock() },
		OnProblem:  func(key string, err error) { mu.Lock(); problems[key]++; mu.Unlock() },
	})
	c.Evaluate("exp", flags.EvalContext{UserID: "u1"})
	c.Evaluate("exp", flags.EvalContext{UserID: "u1"}) // repeated evaluations are still reported
	c.Evaluate("exp", flags.EvalContext{})             // no user: no exposure
	c.Evaluate("plain", flags.EvalContext{UserID: "u1"})
	c.Evaluate("missing", flags.EvalContext{UserID: "u1"})
	mu.Lock()
	defer mu.Unlock()
	if len(exposures) != 2 || exposures[0].Flag != "exp" || exposures[0].UserID != "u1" || exposures[0].Version != 1 || exposures[0].Variant == "" {
		t.Errorf("exposures = %+v, want two for exp/u1", exposures)
	}
	if want := map[string]float64{"control": 60, "treatment": 40}; len(exposures) > 0 && !maps.Equal(exposures[0].Weights, want) {
		t.Errorf("exposure weights %v, want the flag's %v", exposures[0].Weights, want)
	}
	if len(exposures) > 0 && exposures[0].Control != "control" {
		t.Errorf("exposure control %q, want the flag's first variant %q", exposures[0].Control, "control")
	}
	if problems["odd"] != 1 || len(problems) != 1 {
		t.Errorf("problems = %v, want odd once", problems)
	}
}

// Many goroutines evaluate while flags change; run with -race.
func TestClientConcurrentEvaluateWhileWriting(t *testing.T) {
	s, _, _ := newStore(t)
	ctx := ctxT(t)
	for i := range 20 {
		if _, err := s.Put(ctx, &flags.Flag{Key: fmt.Sprintf("f%d", i), Status: flags.StatusPercentage, Percentage: 50,
			Variants: flags.Variants{{Name: "a", Weight: 50}, {Name: "b", Weight: 50}}}); err != nil {
			t.Fatal(err)
		}
	}
	var exposed atomic.Int64
	c := newClient(t, s, flags.ClientOptions{ResyncInterval: 50 * time.Millisecond,
		OnExposure: func(flags.Exposure) { exposed.Add(1) }})
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				r := c.Evaluate(fmt.Sprintf("f%d", i%20), flags.EvalContext{UserID: fmt.Sprintf("u%d-%d", g, i)})
				if r.Enabled && r.Variant != "a" && r.Variant != "b" {
					t.Errorf("enabled with variant %q", r.Variant)
					return
				}
			}
		}()
	}
	for i := range 200 {
		pctv := float64(i % 101)
		if _, err := s.Put(ctx, &flags.Flag{Key: fmt.Sprintf("f%d", i%20), Status: flags.StatusPercentage, Percentage: pctv,
			Variants: flags.Variants{{Name: "a", Weight: 50}, {Name: "b", Weight: 50}}}); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	// Every flag's last write must be what the client serves in the end.
	if !waitFor(2*time.Second, func() bool {
		for i := 180; i < 200; i++ {
			f := c.Flag(fmt.Sprintf("f%d", i%20))
			if f == nil || f.Percentage != float64(i%101) {
				return false
			}
		}
		return true
	}) {
		t.Error("client did not converge on the last writes")
	}
	if exposed.Load() == 0 {
		t.Error("no exposures reported")
	}
}

func TestClientCloseStopsFollowing(t *testing.T) {
	s, _, _ := newStore(t)
	ctx := ctxT(t)
	c, err := flags.NewClient(ctx, s, flags.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	c.Close() // idempotent
	if _, err := s.Put(context.Background(), &flags.Flag{Key: "late", Status: flags.StatusEnabled}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	if c.Flag("late") != nil {
		t.Error("a closed client still follows changes")
	}
}

// A View answers from the snapshot it was taken from, whatever changes
// afterwards: its flag and result are one version, its keys are its flags.
// EvaluateFlag returns the flag its result came from.
func TestClientViewIsOneSnapshot(t *testing.T) {
	s, _, _ := newStore(t)
	ctx := ctxT(t)
	put := func(key string, owner string) {
		t.Helper()
		if _, err := s.Put(ctx, &flags.Flag{Key: key, Status: flags.StatusEnabled, Metadata: map[string]any{"owner": owner},
			Variants: flags.Variants{{Name: "control", Weight: 50}, {Name: "treatment", Weight: 50}}}); err != nil {
			t.Fatal(err)
		}
	}
	put("kept", "v1")
	put("gone", "v1")
	var exposures atomic.Int64
	c := newClient(t, s, flags.ClientOptions{ResyncInterval: time.Hour, OnExposure: func(flags.Exposure) { exposures.Add(1) }})
	view := c.View()

	put("kept", "v2")
	put("born", "v1")
	if err := s.Delete(ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"kept", "born", "gone"} {
		if err := c.Reload(ctx, k); err != nil {
			t.Fatal(err)
		}
	}

	ec := flags.EvalContext{UserID: "u1"}
	if got := view.Keys(); !slices.Equal(got, []string{"gone", "kept"}) {
		t.Errorf("old view's keys = %v, want [gone kept]", got)
	}
	for _, k := range view.Keys() {
		f, r := view.Evaluate(k, ec)
		if f == nil || f.Version != 1 || r.Version != 1 || f.Metadata["owner"] != "v1" || r.Variant == "" {
			t.Errorf("old view %s: flag %+v result %+v, want version 1 in both", k, f, r)
		}
	}
	if f, r := view.Evaluate("born", ec); f != nil || r.ErrorCode != flags.ErrorFlagNotFound {
		t.Errorf("old view: a flag created after it = %+v %+v, want not found", f, r)
	}
	if exposures.Load() != 2 {
		t.Errorf("exposures through the view = %d, want 2 (views report like the client)", exposures.Load())
	}

	now := c.View()
	if got := now.Keys(); !slices.Equal(got, []string{"born", "kept"}) {
		t.Errorf("new view's keys = %v, want [born kept]", got)
	}
	if f, r := c.EvaluateFlag("kept", ec); f == nil || f.Version != 2 || r.Version != 2 || f.Metadata["owner"] != "v2" {
		t.Errorf("EvaluateFlag(kept) = %+v %+v, want version 2 in both", f, r)
	}
	if f, r := c.EvaluateFlag("gone", ec); f != nil || r.ErrorCode != flags.ErrorFlagNotFound {
		t.Errorf("EvaluateFlag(gone) = %+v %+v, want nil and not found", f, r)
	}
}

// OnChange names the flags a change notice or a resync changed, and only
// those; Peek evaluates without an exposure.
func TestClientOnChangeAndPeek(t *testing.T) {
	store, _, _ := newStore(t)
	ctx := ctxT(t)
	changes := make(chan []string, 16)
	var exposures atomic.Int64
	c := newClient(t, store, flags.ClientOptions{
		OnChange:   func(keys []string) { changes <- keys },
		OnExposure: func(flags.Exposure) { exposures.Add(1) },
	})
	ab := &flags.Flag{Key: "ab", Status: flags.StatusEnabled, Variants: []flags.Variant{{Name: "control", Weight: 50}, {Name: "b", Weight: 50}}}
	if _, err := store.Put(ctx, ab); err != nil {
		t.Fatal(err)
	}
	select {
	case keys := <-changes:
		if !slices.Equal(keys, []string{"ab"}) {
			t.Errorf("changed keys %v, want [ab]", keys)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no change reported for a new flag")
	}
	f, r := c.View().Peek("ab", flags.EvalContext{UserID: "u1"})
	if f == nil || r.Variant == "" || exposures.Load() != 0 {
		t.Errorf("Peek = %v %+v with %d exposures, want a variant and none", f, r, exposures.Load())
	}
	if e, ok := flags.NewExposure(f, r, "u1"); !ok || e.Control != "control" || e.Version != f.Version || e.Weights["b"] != 50 {
		t.Errorf("NewExposure = %+v %v", e, ok)
	}
	if err := store.Delete(ctx, "ab"); err != nil {
		t.Fatal(err)
	}
	select {
	case keys := <-changes:
		if !slices.Equal(keys, []string{"ab"}) {
			t.Errorf("changed keys on delete %v", keys)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no change reported for a deleted flag")
	}
}
