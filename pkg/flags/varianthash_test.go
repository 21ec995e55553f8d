package flags_test

import (
	"crypto/md5"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/flagstream/flagstream/pkg/flags"
)

// refBucket computes a bucket from its definition, independently of the
// package: uint32_be(md5("<flag>:<user>[:<salt>]")[0:4]) / 2^32 * 100.
func refBucket(flag, user, salt string) float64 {
	s := flag + ":" + user
	if salt != "" {
		s += ":" + salt
	}
	sum := md5.Sum([]byte(s))
	return float64(binary.BigEndian.Uint32(sum[:4])) / (1 << 32) * 100
}

// refVariant walks cumulative weights as the seed's get_variant does.
func refVariant(vs flags.Variants, b float64) string {
	cum := 0.0
	for _, v := range vs {
		cum += v.Weight
		if b < cum {
			return v.Name
		}
	}
	return vs[0].Name
}

// Which bucket gates and which assigns, for every status and variant_hash,
// checked against the definitions over many users, on a prepared flag and on
// one evaluated without Prepare.
func TestEvaluateVariantHash(t *testing.T) {
	three := flags.Variants{{Name: "control", Weight: 50}, {Name: "a", Weight: 30}, {Name: "b", Weight: 20}}
	for _, st := range []flags.Status{flags.StatusEnabled, flags.StatusPercentage, flags.StatusTargeted} {
		for _, h := range []flags.VariantHash{flags.VariantHashDefault, flags.VariantHashPlain, flags.VariantHashSalted} {
			t.Run(fmt.Sprintf("%s/%q", st, h), func(t *testing.T) {
				gateSalt, variantSalt := "", ""
				switch {
				case h == flags.VariantHashPlain:
					gateSalt = "rollout"
				case h == flags.VariantHashSalted, h == flags.VariantHashDefault && st == flags.StatusPercentage:
					variantSalt = "variant"
				}
				mk := func() *flags.Flag {
					return &flags.Flag{Key: "vh_flag", Status: st, Percentage: 60, Variants: three, VariantHash: h,
						AllowedUsers: []string{"user_7"}}
				}
				prepared, raw := mk().Prepare(), mk()
				on := 0
				for i := range 3000 {
					user := fmt.Sprintf("user_%d", i)
					wantOn := st == flags.StatusEnabled || user == "user_7" ||
						st == flags.StatusPercentage && refBucket("vh_flag", user, gateSalt) < 60
					want := ""
					if wantOn {
						want = refVariant(three, refBucket("vh_flag", user, variantSalt))
						on++
					}
					for _, f := range []*flags.Flag{prepared, raw} {
						r := flags.Evaluate(f, flags.EvalContext{UserID: user})
						if r.Enabled != wantOn || r.Variant != want {
							t.Fatalf("%s: on %v variant %q, want on %v variant %q", user, r.Enabled, r.Variant, wantOn, want)
						}
					}
				}
				if on == 0 {
					t.Fatal("nobody on: the comparison checked nothing")
				}
			})
		}
	}
	// Spot values of the three buckets, so a change of a salt shows here too.
	for _, tc := range []struct {
		salt string
		got  float64
	}{
		{"", flags.Bucket("vh_flag", "user_1")},
		{"variant", flags.VariantBucket("vh_flag", "user_1")},
		{"rollout", flags.RolloutBucket("vh_flag", "user_1")},
	} {
		if want := refBucket("vh_flag", "user_1", tc.salt); tc.got != want {
			t.Errorf("bucket salted %q = %v, want %v", tc.salt, tc.got, want)
		}
	}
}

func TestVariantHashField(t *testing.T) {
	var f flags.Flag
	if err := json.Unmarshal([]byte(`{"key":"x","status":"enabled","variant_hash":"plain"}`), &f); err != nil || f.VariantHash != flags.VariantHashPlain {
		t.Fatalf("decode plain: %v %+v", err, f)
	}
	if b, _ := json.Marshal(&flags.Flag{Key: "x", Status: flags.StatusEnabled}); strings.Contains(string(b), "variant_hash") {
		t.Errorf("a flag without variant_hash encodes it: %s", b)
	}
	for _, bad := range []string{"Plain", "seed", "percentage"} {
		f := flags.Flag{Key: "x", Status: flags.StatusEnabled, VariantHash: flags.VariantHash(bad)}
		err := f.Validate()
		var fe *flags.FieldError
		if !errors.As(err, &fe) || fe.Field != "variant_hash" || !errors.Is(err, flags.ErrInvalid) || !strings.Contains(err.Error(), bad) {
			t.Errorf("variant_hash %q: %v, want an invalid-field error naming variant_hash and the value", bad, err)
		}
	}
}

// The store records variant_hash, keeps it across writes that do not name it
// (whatever else they change) and changes it only when a write names it.
func TestStoreKeepsVariantHash(t *testing.T) {
	s, rdb, p := newStore(t)
	ctx := ctxT(t)
	put := func(f *flags.Flag, want flags.VariantHash) {
		t.Helper()
		got, err := s.Put(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		stored, err := s.Get(ctx, f.Key)
		if err != nil {
			t.Fatal(err)
		}
		if got.VariantHash != want || stored.VariantHash != want {
			t.Fatalf("after writing %q: returned %q, stored %q, want %q", f.VariantHash, got.VariantHash, stored.VariantHash, want)
		}
	}
	flag := func(h flags.VariantHash, vs flags.Variants) *flags.Flag {
		return &flags.Flag{Key: "kept", Status: flags.StatusPercentage, Percentage: 20, Variants: vs, VariantHash: h}
	}
	other := flags.Variants{{Name: "control", Weight: 90}, {Name: "treatment", Weight: 10}}
	put(flag("", fiftyFifty), "") // never set: the seed's rule, no field in Redis
	if rdb.HExists(ctx, p+"feature_flags:data:kept", "variant_hash").Val() {
		t.Error("a flag that never named variant_hash has the field in Redis")
	}
	put(flag(flags.VariantHashPlain, fiftyFifty), flags.VariantHashPlain)
	put(flag("", fiftyFifty), flags.VariantHashPlain) // omitted, variants unchanged: kept
	put(flag("", other), flags.VariantHashPlain)      // omitted, variants changed: still kept
	put(flag(flags.VariantHashSalted, other), flags.VariantHashSalted)
	if _, err := s.PutIfVersion(ctx, flag("", other), 5); err != nil {
		t.Fatal(err)
	}
	if f, _ := s.Get(ctx, "kept"); f.VariantHash != flags.VariantHashSalted {
		t.Errorf("PutIfVersion without variant_hash: stored %q, want salted kept", f.VariantHash)
	}
	if err := s.Delete(ctx, "kept"); err != nil {
		t.Fatal(err)
	}
	put(flag("", other), "") // a deleted flag's hash is gone with it

	// A value the API would refuse, written by another tool, is served by the
	// default rule and reported.
	rdb.HSet(ctx, p+"feature_flags:data:kept", "variant_hash", "weird", "percentage", "100")
	f, err := s.Get(ctx, "kept")
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Problem(); err == nil || !strings.Contains(err.Error(), "variant_hash") {
		t.Errorf("stored variant_hash \"weird\": problem %v, want one naming variant_hash", err)
	}
	want := refVariant(other, refBucket("kept", "u1", "variant")) // percentage: salted by the default rule
	if r := flags.Evaluate(f, flags.EvalContext{UserID: "u1"}); !r.Enabled || r.Variant != want {
		t.Errorf("weird variant_hash: variant %q, want the default rule's %q", r.Variant, want)
	}
}

// What a plan records, by the flag's state when the plan is created or moved.
func TestRolloutRecordsVariantHash(t *testing.T) {
	s, rdb, p := newStore(t)
	ctx := ctxT(t)
	stages := []flags.Stage{{Percentage: pct(10)}, {Percentage: pct(100)}}
	for _, tc := range []struct {
		flag *flags.Flag
		want flags.VariantHash
	}{
		{&flags.Flag{Key: "enabled_ab", Status: flags.StatusEnabled, Variants: fiftyFifty}, flags.VariantHashPlain},
		{&flags.Flag{Key: "targeted_ab", Status: flags.StatusTargeted, AllowedUsers: []string{"u"}, Variants: fiftyFifty}, flags.VariantHashPlain},
		{&flags.Flag{Key: "disabled_ab", Status: flags.StatusDisabled, Variants: fiftyFifty}, flags.VariantHashPlain},
		{&flags.Flag{Key: "percentage_ab", Status: flags.StatusPercentage, Percentage: 5, Variants: fiftyFifty}, flags.VariantHashSalted},
		{&flags.Flag{Key: "percentage_bool", Status: flags.StatusPercentage, Percentage: 5}, flags.VariantHashSalted},
		{&flags.Flag{Key: "enabled_bool", Status: flags.StatusEnabled}, flags.VariantHashDefault},
		{&flags.Flag{Key: "named", Status: flags.StatusEnabled, Variants: fiftyFifty, VariantHash: flags.VariantHashSalted}, flags.VariantHashSalted},
	} {
		if _, err := s.Put(ctx, tc.flag); err != nil {
			t.Fatal(err)
		}
		_, f, err := s.CreateRollout(ctx, tc.flag.Key, stages)
		if err != nil {
			t.Fatal(err)
		}
		if f.VariantHash != tc.want || f.Status != flags.StatusPercentage {
			t.Errorf("%s: plan created, flag %s with variant_hash %q, want percentage with %q", tc.flag.Key, f.Status, f.VariantHash, tc.want)
		}
	}
	// A second plan on a flag whose first plan made it percentage keeps the
	// hash the first plan recorded.
	if _, _, err := s.AdvanceRollout(ctx, "enabled_ab"); err != nil {
		t.Fatal(err)
	}
	if _, f, err := s.CreateRollout(ctx, "enabled_ab", stages); err != nil || f.VariantHash != flags.VariantHashPlain {
		t.Errorf("second plan: %v, variant_hash %q, want plain kept", err, f.VariantHash)
	}
	// A plan from before variant_hash, rolled back to disabled: its stages ran
	// on the seed's rule (salted at percentage), which advancing keeps.
	if _, err := s.Put(ctx, &flags.Flag{Key: "legacy", Status: flags.StatusDisabled, Variants: fiftyFifty}); err != nil {
		t.Fatal(err)
	}
	rdb.HSet(ctx, p+"rollout:legacy", map[string]any{"flag_name": "legacy", "stages": `[{"percentage": 10}]`,
		"current_stage": "0", "status": "disabled", "created_at": "2026-01-01T00:00:00.000000"})
	if _, f, err := s.AdvanceRollout(ctx, "legacy"); err != nil || f.VariantHash != flags.VariantHashDefault {
		t.Errorf("legacy plan re-enabled: %v, variant_hash %q, want none (the seed's rule)", err, f.VariantHash)
	}
	// A plan the seed's create_rollout wrote leaves the flag enabled until
	// the first advance: that advance records plain.
	if _, err := s.Put(ctx, &flags.Flag{Key: "seedplan", Status: flags.StatusEnabled, Variants: fiftyFifty}); err != nil {
		t.Fatal(err)
	}
	rdb.HSet(ctx, p+"rollout:seedplan", map[string]any{"flag_name": "seedplan", "stages": `[{"percentage": 10}, {"percentage": 50}]`,
		"current_stage": "0", "status": "active", "created_at": "2026-01-01T00:00:00.000000"})
	if _, f, err := s.AdvanceRollout(ctx, "seedplan"); err != nil || f.VariantHash != flags.VariantHashPlain {
		t.Errorf("seed plan advanced: %v, variant_hash %q, want plain", err, f.VariantHash)
	}
}
