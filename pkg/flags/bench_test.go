package flags_test

import (
	"crypto/md5"
	"fmt"
	"runtime"
	"testing"

	"github.com/flagstream/flagstream/pkg/flags"
)

// benchFlags are the flags the speed targets name.
func benchFlags() []*flags.Flag {
	four := flags.Variants{{Name: "control", Weight: 25}, {Name: "a", Weight: 25}, {Name: "b", Weight: 25}, {Name: "c", Weight: 25}}
	return []*flags.Flag{
		{Key: "boolean", Status: flags.StatusEnabled},
		{Key: "percentage", Status: flags.StatusPercentage, Percentage: 50},
		{Key: "variants4", Status: flags.StatusEnabled, Variants: four},
		{Key: "percentage_variants4", Status: flags.StatusPercentage, Percentage: 50, Variants: four},
		{Key: "rules5", Status: flags.StatusEnabled, Rules: []flags.Rule{
			{Attribute: "plan", Operator: "in", Value: []any{"pro", "enterprise"}},
			{Attribute: "age", Operator: "gte", Value: 30.0},
			{Attribute: "country", Operator: "eq", Value: "DE"},
			{Attribute: "email", Operator: "ends_with", Value: "@example.com"},
			{Attribute: "beta", Operator: "eq", Value: true},
		}},
	}
}

var benchContext = flags.EvalContext{UserID: "user_789", Groups: []string{"staff"}, Attributes: map[string]any{
	"plan": "pro", "age": 45.0, "country": "DE", "email": "a@example.com", "beta": true}}

// BenchmarkMD5Floor is the bare cost of hashing one "<flag>:<user>" key: the
// floor under any evaluation that buckets.
func BenchmarkMD5Floor(b *testing.B) {
	key := []byte("percentage:user_789")
	b.ReportAllocs()
	for b.Loop() {
		_ = md5.Sum(key)
	}
}

func BenchmarkEvaluate(b *testing.B) {
	for _, f := range benchFlags() {
		f.Prepare()
		b.Run(f.Key, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				flags.Evaluate(f, benchContext)
			}
		})
	}
}

// BenchmarkClientEvaluate goes through the cached client (snapshot load, map
// lookup, exposure hook) against flags loaded from real Redis.
func BenchmarkClientEvaluate(b *testing.B) {
	s, _, _ := newStoreB(b)
	for _, f := range benchFlags() {
		if _, err := s.Put(b.Context(), f); err != nil {
			b.Fatal(err)
		}
	}
	var exposures int
	c, err := flags.NewClient(b.Context(), s, flags.ClientOptions{OnExposure: func(flags.Exposure) { exposures++ }})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	for _, f := range benchFlags() {
		b.Run(f.Key, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				c.Evaluate(f.Key, benchContext)
			}
		})
	}
}

// BenchmarkResync10k measures a full reload of 10,000 flags from Redis and
// reports the heap the resident flags take.
func BenchmarkResync10k(b *testing.B) {
	s, _, _ := newStoreB(b)
	const n = 10_000
	for i := range n {
		f := &flags.Flag{Key: fmt.Sprintf("flag_%05d", i), Status: flags.StatusPercentage, Percentage: float64(i % 100),
			AllowedUsers: []string{"user_1", "user_2"}, Description: "a flag of the 10k benchmark",
			Rules:    []flags.Rule{{Attribute: "plan", Operator: "in", Value: []any{"pro", "enterprise"}}},
			Variants: flags.Variants{{Name: "control", Weight: 50}, {Name: "treatment", Weight: 50}}}
		if _, err := s.Put(b.Context(), f); err != nil {
			b.Fatal(err)
		}
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	loaded, broken, err := s.All(b.Context())
	if err != nil || len(broken) > 0 || len(loaded) != n {
		b.Fatalf("All() = %d flags, %v, %v", len(loaded), broken, err)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	resident := float64(after.HeapAlloc-before.HeapAlloc) / (1 << 20)
	runtime.KeepAlive(loaded)
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := s.All(b.Context()); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(resident, "MiB-resident")
}
