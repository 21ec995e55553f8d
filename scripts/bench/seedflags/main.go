// Command seedflags writes benchmark flags into Redis through flags.Store:
// the two flags of the OFREP load test and, with -n, that many extra flags.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/flagstream/flagstream/internal/connect"
	"github.com/flagstream/flagstream/pkg/flags"
)

func main() {
	redisURL := flag.String("redis-url", "redis://127.0.0.1:16379/0", "Redis URL")
	prefix := flag.String("redis-prefix", "bench:", "key prefix")
	n := flag.Int("n", 0, "extra flags bulk_00000... to write (percentage flags with a rule)")
	variants := flag.Bool("variants", true, "give the extra flags two variants (every evaluation that rolls a user in is an exposure)")
	flag.Parse()
	if err := seed(*redisURL, *prefix, *n, *variants); err != nil {
		fmt.Fprintln(os.Stderr, "seedflags:", err)
		os.Exit(1)
	}
}

func seed(redisURL, prefix string, n int, variants bool) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	rdb, err := connect.Redis(redisURL)
	if err != nil {
		return err
	}
	defer rdb.Close()
	s := flags.NewStore(rdb, flags.WithKeyPrefix(prefix))
	base := []*flags.Flag{
		{Key: "bench_boolean", Status: flags.StatusEnabled},
		{Key: "bench_split", Status: flags.StatusEnabled, Variants: flags.Variants{{Name: "control", Weight: 50}, {Name: "treatment", Weight: 50}}},
	}
	for _, f := range base {
		if _, err := s.Put(ctx, f); err != nil {
			return err
		}
	}
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(16)
	for i := range n {
		g.Go(func() error {
			f := &flags.Flag{Key: fmt.Sprintf("bulk_%05d", i), Status: flags.StatusPercentage, Percentage: float64(i % 100),
				Description: "bulk benchmark flag", AllowedUsers: []string{"user_1", "user_2"},
				Rules: []flags.Rule{{Attribute: "plan", Operator: "in", Value: []any{"pro", "enterprise"}}}}
			if variants {
				f.Variants = flags.Variants{{Name: "control", Weight: 50}, {Name: "treatment", Weight: 50}}
			}
			_, err := s.Put(ctx, f)
			return err
		})
	}
	return g.Wait()
}
