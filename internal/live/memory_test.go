package live

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/flagstream/flagstream/internal/testenv/servers"
	"github.com/flagstream/flagstream/pkg/events"
)

// BenchmarkRedisMemory1MUsers measures what the live counters keep in Redis
// for one experiment with 1,000,000 users over the dedup window (two days):
// each user exposed once or twice, 10% converting once or twice. It reports
// bytes per user and per event in all, and the part of that which is dedup
// markers (per event, gone Window + a day after their day) and per-user
// state (the assignment and the user's experiment list, gone UserTTL after
// the user's last exposure). On a private redis-server, so that nothing
// else's memory is counted. One run (the first takes longer than -benchtime).
func BenchmarkRedisMemory1MUsers(b *testing.B) {
	srv := servers.PrivateRedis(b)
	opt, _ := redis.ParseURL(srv.URL())
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	ctx := context.Background()
	c := New(rdb, "", Options{})
	used := func() int64 {
		info := rdb.Info(ctx, "memory").Val()
		for _, line := range strings.Split(info, "\r\n") {
			if v, ok := strings.CutPrefix(line, "used_memory:"); ok {
				n, _ := strconv.ParseInt(v, 10, 64)
				return n
			}
		}
		b.Fatal("no used_memory in INFO")
		return 0
	}
	const users = 1_000_000
	now := time.Now().UTC()
	before := used()
	b.ResetTimer()
	var mu sync.Mutex
	total := 0
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			var batch []events.Event
			flush := func() {
				if _, err := c.Apply(ctx, batch); err != nil {
					b.Error(err)
				}
				mu.Lock()
				total += len(batch)
				mu.Unlock()
				batch = batch[:0]
			}
			for u := w; u < users; u += 4 {
				user := fmt.Sprintf("user_%07d", u)
				ts := now.Add(-time.Duration(rng.Int64N(int64(40 * time.Hour))))
				variant := []string{"control", "treatment"}[u%2]
				batch = append(batch, events.Event{ID: events.NewID(), Type: events.TypeExposure, Experiment: "mem", Variant: variant, UserID: user, TS: ts})
				if rng.IntN(10) < 3 {
					batch = append(batch, events.Event{ID: events.NewID(), Type: events.TypeExposure, Experiment: "mem", Variant: variant, UserID: user, TS: ts.Add(time.Minute)})
				}
				if rng.IntN(10) == 0 {
					v := float64(rng.IntN(10000)) / 100
					for range 1 + rng.IntN(2) {
						batch = append(batch, events.Event{ID: events.NewID(), Type: events.TypeConversion, Experiment: "mem", UserID: user,
							ConversionType: "purchase", Value: &v, TS: ts.Add(2 * time.Minute)})
					}
				}
				if len(batch) >= 1000 {
					flush()
				}
			}
			flush()
		})
	}
	wg.Wait()
	b.StopTimer()
	all := used() - before
	var markers int64
	for _, day := range []time.Time{now, now.Add(-24 * time.Hour)} {
		k := "experiment:mem:seen:" + day.Format(time.DateOnly)
		n, _ := rdb.MemoryUsage(ctx, k, 0).Result() // SAMPLES 0: every member
		markers += n
	}
	var userKeys int64
	for i := range 1000 { // a sample of the per-user sets
		n, _ := rdb.MemoryUsage(ctx, "flagstream:user_experiments:"+fmt.Sprintf("user_%07d", i*997)).Result()
		userKeys += n
	}
	assignments, _ := rdb.MemoryUsage(ctx, "experiment:mem:assignments", 0).Result()
	b.ReportMetric(float64(all)/users, "bytes/user")
	b.ReportMetric(float64(all)/float64(total), "bytes/event")
	b.ReportMetric(float64(markers)/float64(total), "marker-bytes/event")
	b.ReportMetric(float64(assignments)/users+float64(userKeys)/1000, "user-state-bytes/user")
	b.ReportMetric(float64(total), "events")
}
