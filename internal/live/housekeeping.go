package live

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// SweepHeld counts and removes, in every experiment, the conversions held
// past [PendingTTL] (their user's exposure never reached the live counters),
// and returns how many it found. It is safe to run from every ingest at once:
// each experiment's sweep is one atomic script.
func (c *Counters) SweepHeld(ctx context.Context, now time.Time) (int64, error) {
	exps, err := c.Experiments(ctx)
	if err != nil {
		return 0, err
	}
	cmds := make([]*redis.Cmd, len(exps))
	err = c.run(ctx, sweepScript, func(p redis.Pipeliner) {
		for i, e := range exps {
			base := c.keys.base(e)
			cmds[i] = sweepScript.EvalSha(ctx, p, []string{base + "pending_users"}, base, now.UnixMilli())
		}
	})
	if err != nil {
		return 0, fmt.Errorf("sweep held conversions: %w", err)
	}
	var n int64
	for _, cmd := range cmds {
		v, _ := cmd.Int64()
		n += v
	}
	return n, nil
}

// HeldExpired is how many held conversions expired in all experiments, ever
// (until an experiment is archived): conversions the live counters lost.
func (c *Counters) HeldExpired(ctx context.Context) (int64, error) {
	exps, err := c.Experiments(ctx)
	if err != nil {
		return 0, err
	}
	cmds := make([]*redis.StringCmd, len(exps))
	if _, err := c.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, e := range exps {
			cmds[i] = p.Get(ctx, c.keys.base(e)+"lost:held_expired")
		}
		return nil
	}); err != nil && err != redis.Nil {
		return 0, fmt.Errorf("read expired held conversions: %w", err)
	}
	var n int64
	for _, cmd := range cmds {
		v, _ := strconv.ParseInt(cmd.Val(), 10, 64)
		n += v
	}
	return n, nil
}

// Archive removes an experiment's live keys (counters, assignments, markers,
// held conversions) and stops the live counters taking its events, for as
// long as any user's experiment list may still name it (UserTTL); the
// report's data in ClickHouse is not touched. It returns how many keys it
// removed. Archiving an experiment with no live keys is not an error.
func (c *Counters) Archive(ctx context.Context, experiment string) (int, error) {
	base := c.keys.base(experiment)
	// First stop new writes: the script checks this key before writing.
	if err := c.rdb.Set(ctx, base+"archived", time.Now().UTC().Format(time.RFC3339), c.opt.UserTTL).Err(); err != nil {
		return 0, fmt.Errorf("archive %q: %w", experiment, err)
	}
	n, err := c.remove(ctx, experiment, base+"archived")
	if err != nil {
		return n, fmt.Errorf("archive %q: %w", experiment, err)
	}
	return n, nil
}

// Reset removes every live key of an experiment, its archived mark
// included: the live counters start it afresh (before a rebuild).
func (c *Counters) Reset(ctx context.Context, experiment string) (int, error) {
	n, err := c.remove(ctx, experiment, "")
	if err != nil {
		return n, fmt.Errorf("reset %q: %w", experiment, err)
	}
	c.listed.Delete(experiment)
	return n, nil
}

// remove unlinks the experiment's keys but keep, and takes it off the list.
func (c *Counters) remove(ctx context.Context, experiment, keep string) (int, error) {
	base := c.keys.base(experiment)
	removed := 0
	scan := func(ctx context.Context, rdb redis.UniversalClient) error {
		iter := rdb.Scan(ctx, 0, globEscape(base)+"*", 1000).Iterator()
		var batch []string
		flush := func() error {
			if len(batch) == 0 {
				return nil
			}
			n, err := rdb.Unlink(ctx, batch...).Result()
			removed += int(n)
			batch = batch[:0]
			return err
		}
		for iter.Next(ctx) {
			if k := iter.Val(); k != keep {
				batch = append(batch, k)
			}
			if len(batch) == 500 {
				if err := flush(); err != nil {
					return err
				}
			}
		}
		if err := iter.Err(); err != nil {
			return err
		}
		return flush()
	}
	var err error
	if cc, ok := c.rdb.(*redis.ClusterClient); ok {
		err = cc.ForEachMaster(ctx, func(ctx context.Context, n *redis.Client) error { return scan(ctx, n) })
	} else {
		err = scan(ctx, c.rdb)
	}
	if err == nil {
		err = c.rdb.SRem(ctx, c.keys.experiments(), experiment).Err()
	}
	return removed, err
}

// globEscape quotes the characters SCAN's MATCH treats as a pattern.
func globEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[]\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}
