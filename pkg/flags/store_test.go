package flags_test

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/flagstream/flagstream/internal/testenv"
	"github.com/flagstream/flagstream/pkg/flags"
)

func newStore(t *testing.T) (*flags.Store, redis.UniversalClient, string) {
	t.Helper()
	return newStoreB(t)
}

func newStoreB(t testing.TB) (*flags.Store, redis.UniversalClient, string) {
	t.Helper()
	rdb, prefix := testenv.Redis(t)
	return flags.NewStore(rdb, flags.WithKeyPrefix(prefix)), rdb, prefix
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// A flag written with raw HSET/SADD exactly as the seed's Python manager
// (create_flag) and AdvancedFeatureFlags (create_flag_with_rules) write it.
func TestReadSeedPythonLayout(t *testing.T) {
	s, rdb, p := newStore(t)
	ctx := ctxT(t)
	rdb.HSet(ctx, p+"feature_flags:data:pricing_page_experiment", map[string]any{
		"name": "pricing_page_experiment", "status": "enabled", "description": "A/B test for pricing page layout",
		"percentage": "0", "allowed_users": "[]", "allowed_groups": "[]",
		"variants": `{"control": 50, "variant_a": 25, "variant_b": 25}`, "metadata": "{}",
	})
	rdb.HSet(ctx, p+"feature_flags:data:premium_analytics", map[string]any{
		"name": "premium_analytics", "status": "enabled", "description": "", "percentage": "0.0",
		"allowed_users": `["user_123"]`, "allowed_groups": "[]", "variants": "{}", "metadata": "{}",
	})
	rdb.HSet(ctx, p+"feature_flags:rules:premium_analytics", map[string]any{
		"rules":      `[{"attribute": "plan", "operator": "in", "value": ["pro", "enterprise"]}, {"attribute": "account_age_days", "operator": "gte", "value": 30}]`,
		"match_type": "all",
	})
	rdb.HSet(ctx, p+"feature_flags:data:dark_mode", map[string]any{
		"name": "dark_mode", "status": "percentage", "description": "Dark mode UI", "percentage": "25.0",
		"allowed_users": "[]", "allowed_groups": "[]", "variants": "{}", "metadata": "{}",
	})
	rdb.SAdd(ctx, p+"feature_flags", "pricing_page_experiment", "premium_analytics", "dark_mode")

	f, err := s.Get(ctx, "pricing_page_experiment")
	if err != nil {
		t.Fatal(err)
	}
	if got := flags.Evaluate(f, flags.EvalContext{UserID: "user_789"}); got.Variant != "control" || !got.Enabled {
		t.Errorf("pricing_page_experiment for user_789 = %+v, want control (bucket 48.1)", got)
	}
	pa, err := s.Get(ctx, "premium_analytics")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		ec   flags.EvalContext
		want bool
	}{
		{flags.EvalContext{UserID: "u1", Attributes: map[string]any{"plan": "pro", "account_age_days": 45.0}}, true},
		{flags.EvalContext{UserID: "u1", Attributes: map[string]any{"plan": "pro", "account_age_days": 29.0}}, false},
		{flags.EvalContext{UserID: "u1", Attributes: map[string]any{"plan": "pro", "account_age_days": "45"}}, false},
		{flags.EvalContext{UserID: "user_123"}, true}, // allowed user
	} {
		if got := flags.Evaluate(pa, tt.ec); got.Enabled != tt.want {
			t.Errorf("premium_analytics for %+v = %+v, want enabled %v", tt.ec, got, tt.want)
		}
	}
	all, broken, err := s.All(ctx)
	if err != nil || len(broken) != 0 || len(all) != 3 {
		t.Fatalf("All() = %d flags, broken %v, err %v", len(all), broken, err)
	}
	dm, _ := s.Get(ctx, "dark_mode")
	if dm.Percentage != 25 || flags.Evaluate(dm, flags.EvalContext{UserID: "user_001"}).Enabled {
		t.Errorf("dark_mode = %+v; user_001 has bucket 73.0 and must be off at 25%%", dm)
	}
}

// The seed's Node manager writes camelCase and no rules.
func TestReadSeedNodeLayout(t *testing.T) {
	s, rdb, p := newStore(t)
	ctx := ctxT(t)
	rdb.HSet(ctx, p+"feature_flags:data:beta_features", map[string]any{
		"name": "beta_features", "status": "targeted", "description": "", "percentage": "0",
		"allowedUsers": `["user_123","user_456"]`, "allowedGroups": `["beta_testers","employees"]`,
		"variants": "{}", "metadata": "{}",
	})
	rdb.SAdd(ctx, p+"feature_flags", "beta_features")
	f, err := s.Get(ctx, "beta_features")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		ec   flags.EvalContext
		want bool
	}{
		{flags.EvalContext{UserID: "user_456"}, true},
		{flags.EvalContext{UserID: "x", Groups: []string{"employees"}}, true},
		{flags.EvalContext{UserID: "x", Groups: []string{"others"}}, false},
	} {
		if got := flags.Evaluate(f, tt.ec).Enabled; got != tt.want {
			t.Errorf("beta_features for %+v: enabled %v, want %v", tt.ec, got, tt.want)
		}
	}
	if f.Problem() != nil {
		t.Errorf("a valid Node flag reports a problem: %v", f.Problem())
	}
}

// Data the API would refuse is served as the seed serves it, and flagged.
func TestReadLenientData(t *testing.T) {
	s, rdb, p := newStore(t)
	ctx := ctxT(t)
	rdb.HSet(ctx, p+"feature_flags:data:odd", map[string]any{
		"name": "odd", "status": "enabled", "percentage": "0", "variants": `{"a": 10, "b": 10}`,
	})
	rdb.HSet(ctx, p+"feature_flags:rules:odd", map[string]any{
		"rules": `[{"attribute":"plan","operator":"regex","value":"p.*"},{"attribute":"plan","operator":"eq","value":"pro"}]`, "match_type": "either",
	})
	rdb.HSet(ctx, p+"feature_flags:data:broken", map[string]any{"name": "broken", "status": "enabled", "allowed_users": "[not json"})
	rdb.SAdd(ctx, p+"feature_flags", "odd", "broken")
	f, err := s.Get(ctx, "odd")
	if err != nil {
		t.Fatal(err)
	}
	if f.Problem() == nil {
		t.Error("a flag with an unknown operator reports no problem")
	}
	// match_type "either" means any: the eq rule matches though "regex" is false.
	got := flags.Evaluate(f, flags.EvalContext{UserID: "pricing_page_experiment", Attributes: map[string]any{"plan": "pro"}})
	if !got.Enabled || got.Variant != "a" {
		t.Errorf("odd flag = %+v, want enabled with fallback variant a", got)
	}
	_, broken, err := s.All(ctx)
	if err != nil || len(broken) != 1 || broken[0].Key != "broken" {
		t.Errorf("All() broken = %v, err %v; want the flag with malformed JSON", broken, err)
	}
}

func TestPutWritesPythonLayoutAtomically(t *testing.T) {
	s, rdb, p := newStore(t)
	ctx := ctxT(t)
	sub := rdb.Subscribe(ctx, s.Channel())
	defer sub.Close()
	if _, err := sub.Receive(ctx); err != nil {
		t.Fatal(err)
	}
	in := &flags.Flag{Key: "pricing_page_experiment", Status: flags.StatusEnabled, Description: "A/B",
		Rules:    []flags.Rule{{Attribute: "plan", Operator: "in", Value: []any{"pro"}}},
		Variants: flags.Variants{{Name: "control", Weight: 50}, {Name: "variant_a", Weight: 25}, {Name: "variant_b", Weight: 25}},
		Metadata: map[string]any{"owner": "growth"}, Version: 77}
	f, err := s.Put(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	if f.Version != 1 {
		t.Errorf("first write has version %d, want 1 (the given version is ignored)", f.Version)
	}
	h := rdb.HGetAll(ctx, p+"feature_flags:data:pricing_page_experiment").Val()
	want := map[string]string{
		"name": "pricing_page_experiment", "status": "enabled", "description": "A/B", "percentage": "0",
		"allowed_users": "[]", "allowed_groups": "[]", "variants": `{"control": 50, "variant_a": 25, "variant_b": 25}`,
		"metadata": `{"owner":"growth"}`, "version": "1",
	}
	if !reflect.DeepEqual(h, want) {
		t.Errorf("data hash =\n%v\nwant\n%v", h, want)
	}
	rules := rdb.HGetAll(ctx, p+"feature_flags:rules:pricing_page_experiment").Val()
	var rl []map[string]any
	if json.Unmarshal([]byte(rules["rules"]), &rl) != nil || len(rl) != 1 || rules["match_type"] != "all" {
		t.Errorf("rules hash = %v", rules)
	}
	if !rdb.SIsMember(ctx, p+"feature_flags", "pricing_page_experiment").Val() {
		t.Error("name not added to the set")
	}
	msg, err := sub.ReceiveMessage(ctx)
	if err != nil || msg.Payload != `{"action":"update","flag":"pricing_page_experiment"}` {
		t.Errorf("notice = %v, %v", msg, err)
	}
	// A second write bumps the version and drops the rules it no longer has.
	in.Rules = nil
	f, err = s.Put(ctx, in)
	if err != nil || f.Version != 2 {
		t.Fatalf("second write: version %v, err %v", f, err)
	}
	if n := rdb.Exists(ctx, p+"feature_flags:rules:pricing_page_experiment").Val(); n != 0 {
		t.Error("rules key left behind")
	}
	// Compare-and-set.
	if _, err := s.PutIfVersion(ctx, in, 1); !errors.Is(err, flags.ErrConflict) {
		t.Errorf("PutIfVersion with a stale version: %v, want ErrConflict", err)
	}
	if f, err := s.PutIfVersion(ctx, in, 2); err != nil || f.Version != 3 {
		t.Errorf("PutIfVersion with the current version: %v, %v", f, err)
	}
	// Invalid flags never reach Redis.
	bad := *in
	bad.Variants = flags.Variants{{Name: "a", Weight: 60}}
	if _, err := s.Put(ctx, &bad); !errors.Is(err, flags.ErrInvalid) {
		t.Errorf("Put(invalid) = %v, want ErrInvalid", err)
	}
	if got, _ := s.Get(ctx, in.Key); got.Version != 3 {
		t.Errorf("after refused write, version = %d, want 3", got.Version)
	}
}

// Readers racing a writer never see a flag whose hash and rules come from
// different writes.
func TestReadersNeverSeeHalfAFlag(t *testing.T) {
	s, _, _ := newStore(t)
	ctx := ctxT(t)
	mk := func(i int) *flags.Flag {
		// Description and rule value carry the same number.
		return &flags.Flag{Key: "torn", Status: flags.StatusEnabled, Description: string(rune('a' + i%26)),
			Rules: []flags.Rule{{Attribute: "d", Operator: "eq", Value: string(rune('a' + i%26))}}}
	}
	if _, err := s.Put(ctx, mk(0)); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		for i := 1; i < 300; i++ {
			if _, err := s.Put(ctx, mk(i)); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	for reads := 0; ; reads++ {
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
			return
		default:
		}
		f, err := s.Get(ctx, "torn")
		if err != nil {
			t.Fatal(err)
		}
		if f.Rules[0].Value != f.Description {
			t.Fatalf("read %d: description %q with rule value %v", reads, f.Description, f.Rules[0].Value)
		}
	}
}

func TestDelete(t *testing.T) {
	s, rdb, p := newStore(t)
	ctx := ctxT(t)
	if _, err := s.Put(ctx, &flags.Flag{Key: "gone", Status: flags.StatusEnabled, Rules: []flags.Rule{{Attribute: "a", Operator: "eq", Value: "b"}}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	if n := rdb.Exists(ctx, p+"feature_flags:data:gone", p+"feature_flags:rules:gone").Val(); n != 0 {
		t.Errorf("%d keys left after delete", n)
	}
	if _, err := s.Get(ctx, "gone"); !errors.Is(err, flags.ErrNotFound) {
		t.Errorf("Get after delete = %v, want ErrNotFound", err)
	}
	if err := s.Delete(ctx, "gone"); !errors.Is(err, flags.ErrNotFound) {
		t.Errorf("second Delete = %v, want ErrNotFound", err)
	}
}

func pct(v float64) *float64 { return &v }

func TestRollout(t *testing.T) {
	s, rdb, p := newStore(t)
	ctx := ctxT(t)
	if _, err := s.Put(ctx, &flags.Flag{Key: "new_payment_system", Status: flags.StatusDisabled}); err != nil {
		t.Fatal(err)
	}
	stages := []flags.Stage{
		{Percentage: pct(0), Groups: []string{"internal"}},
		{Percentage: pct(5), Groups: []string{"internal"}},
		{Percentage: pct(25), Groups: []string{}},
		{Percentage: pct(100)},
	}
	r, f, err := s.CreateRollout(ctx, "new_payment_system", stages)
	if err != nil {
		t.Fatal(err)
	}
	if r.CurrentStage != 0 || f.Status != flags.StatusPercentage || f.Percentage != 0 || !reflect.DeepEqual(f.AllowedGroups, []string{"internal"}) {
		t.Fatalf("after create: plan %+v flag %+v", r, f)
	}
	h := rdb.HGetAll(ctx, p+"rollout:new_payment_system").Val()
	if h["flag_name"] != "new_payment_system" || h["current_stage"] != "0" || h["status"] != "active" || h["created_at"] == "" {
		t.Errorf("rollout hash = %v", h)
	}
	steps := []struct {
		do      func(context.Context, string) (*flags.Rollout, *flags.Flag, error)
		stage   int
		pct     float64
		groups  []string
		status  flags.Status
		wantErr error
	}{
		{s.AdvanceRollout, 1, 5, []string{"internal"}, flags.StatusPercentage, nil},
		{s.AdvanceRollout, 2, 25, []string{}, flags.StatusPercentage, nil},
		{s.AdvanceRollout, 3, 100, []string{}, flags.StatusPercentage, nil}, // a stage without groups keeps them
		{s.AdvanceRollout, 3, 100, nil, "", flags.ErrRolloutEnd},
		{s.RollbackRollout, 2, 25, []string{}, flags.StatusPercentage, nil},
		{s.RollbackRollout, 1, 5, []string{"internal"}, flags.StatusPercentage, nil},
		{s.RollbackRollout, 0, 0, []string{"internal"}, flags.StatusPercentage, nil},
		{s.RollbackRollout, 0, 0, []string{"internal"}, flags.StatusDisabled, nil},  // from stage 0: disabled
		{s.AdvanceRollout, 0, 0, []string{"internal"}, flags.StatusPercentage, nil}, // re-enabled where it stopped
	}
	for i, st := range steps {
		r, f, err := st.do(ctx, "new_payment_system")
		if st.wantErr != nil {
			if !errors.Is(err, st.wantErr) {
				t.Fatalf("step %d: err %v, want %v", i, err, st.wantErr)
			}
			continue
		}
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if r.CurrentStage != st.stage || f.Percentage != st.pct || f.Status != st.status || len(f.AllowedGroups) != len(st.groups) {
			t.Fatalf("step %d: plan stage %d, flag %v%% %s groups %v; want stage %d, %v%% %s %v",
				i, r.CurrentStage, f.Percentage, f.Status, f.AllowedGroups, st.stage, st.pct, st.status, st.groups)
		}
		stored, _ := s.Get(ctx, "new_payment_system")
		if stored.Version != f.Version || stored.Percentage != f.Percentage {
			t.Fatalf("step %d: stored flag %+v differs from returned %+v", i, stored, f)
		}
	}
	if _, _, err := s.AdvanceRollout(ctx, "no_such_flag"); !errors.Is(err, flags.ErrNotFound) {
		t.Errorf("advance of a missing flag: %v", err)
	}
	if _, _, err := s.CreateRollout(ctx, "new_payment_system", []flags.Stage{{Percentage: pct(101)}}); !errors.Is(err, flags.ErrInvalid) {
		t.Errorf("stage of 101%%: %v, want ErrInvalid", err)
	}
}

// The seed's GradualRollout writes plans too; we read them.
func TestReadSeedRollout(t *testing.T) {
	s, rdb, p := newStore(t)
	ctx := ctxT(t)
	if _, err := s.Put(ctx, &flags.Flag{Key: "np", Status: flags.StatusPercentage}); err != nil {
		t.Fatal(err)
	}
	rdb.HSet(ctx, p+"rollout:np", map[string]any{
		"flag_name": "np", "stages": `[{"percentage": 0, "groups": ["internal"]}, {"percentage": 5, "groups": ["internal"]}]`,
		"current_stage": "0", "status": "active", "created_at": "2026-11-20T10:00:00.000000",
	})
	r, f, err := s.AdvanceRollout(ctx, "np")
	if err != nil || r.CurrentStage != 1 || f.Percentage != 5 {
		t.Fatalf("advance seed plan: %+v %+v %v", r, f, err)
	}
}
