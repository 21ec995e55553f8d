package live

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/flagstream/flagstream/pkg/events"
)

// Counters writes and reads the live counters.
type Counters struct {
	rdb  redis.UniversalClient
	keys keys
	ttl  time.Duration
}

// DefaultDedupWindow is how long an event's dedup marker lives. JetStream
// redelivers only what was not acknowledged, so the window must outlast the
// longest time an event can wait between being counted and acknowledged
// (an ingest outage) and any resend by a sender; a day covers both with room.
// Memory: about 90 bytes of Redis per event counted within the window.
const DefaultDedupWindow = 24 * time.Hour

// New returns counters on rdb with every key under prefix ("" for the seed's
// exact layout) and dedup markers kept for window (DefaultDedupWindow if 0).
func New(rdb redis.UniversalClient, prefix string, window time.Duration) *Counters {
	if window <= 0 {
		window = DefaultDedupWindow
	}
	return &Counters{rdb: rdb, keys: newKeys(rdb, prefix), ttl: window}
}

// Status is what applying did to one event.
type Status uint8

const (
	// Unattributed: a conversion of a user with no assignment (in the named
	// experiment, or in any, for a conversion that names none): counted nowhere,
	// as in the seed. Nothing was written; applying it again later counts it
	// if the user's exposure has arrived meanwhile.
	Unattributed Status = iota
	// Duplicate: counted before; nothing changed.
	Duplicate
	// Held: a conversion of a user not (yet) assigned in the experiment it
	// names: held for PendingTTL and counted when the user's exposure is.
	Held
	// Counted: the counters changed (for a conversion without an experiment:
	// in at least one of the user's experiments).
	Counted
)

// PendingTTL is how long a conversion waits for its user's exposure. The
// exposure may be a moment behind (another worker or ingest instance holds
// it, or a redelivery after an outage); a conversion whose user is not
// exposed within this time counts nowhere, as in the seed.
const PendingTTL = time.Hour

// fromScript maps the script's codes (0 duplicate, 1 counted, 3 held).
func fromScript(code int64) Status {
	switch code {
	case 0:
		return Duplicate
	case 1:
		return Counted
	case 3:
		return Held
	}
	return Unattributed
}

// Apply counts a batch of valid events, each at most once however often it is
// applied. A conversion without an experiment counts for every experiment
// the user was exposed to (before it, in this batch or an earlier one). On an
// error nothing is known about which events counted; applying the same batch
// again is safe and completes it.
func (c *Counters) Apply(ctx context.Context, evs []events.Event) ([]Status, error) {
	out := make([]Status, len(evs))
	if len(evs) == 0 {
		return out, nil
	}
	known, err := c.userExperiments(ctx, evs)
	if err != nil {
		return nil, err
	}
	groups := map[string][]any{}
	owners := map[string][]int{} // experiment → index in evs of each event in its group
	var order []string
	addTo := func(exp string, idx int, args ...any) {
		g, ok := groups[exp]
		if !ok {
			order = append(order, exp)
			g = []any{c.keys.base(exp), int64(c.ttl / time.Second), int64(PendingTTL / time.Second)}
		}
		groups[exp] = append(g, args...)
		owners[exp] = append(owners[exp], idx)
	}
	seenIn := map[string]map[string]bool{} // user → experiments exposed to in this batch so far
	for i := range evs {
		e := &evs[i]
		day := e.TS.UTC().Format(time.DateOnly)
		switch e.Type {
		case events.TypeExposure:
			addTo(e.Experiment, i, "E", e.ID, e.Variant, e.UserID, day, "")
			if seenIn[e.UserID] == nil {
				seenIn[e.UserID] = map[string]bool{}
			}
			seenIn[e.UserID][e.Experiment] = true
		case events.TypeConversion:
			value := strconv.FormatFloat(e.ValueOrDefault(), 'g', -1, 64)
			exps := []string{e.Experiment}
			if e.Experiment == "" {
				exps = union(known[e.UserID], seenIn[e.UserID])
				if len(exps) == 0 {
					continue // Unattributed
				}
			}
			for _, exp := range exps {
				addTo(exp, i, "C", e.ID, e.ConversionType, e.UserID, day, value)
			}
		}
	}

	cmds := make([]*redis.Cmd, len(order))
	for attempt := 0; ; attempt++ {
		_, err = c.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i, exp := range order {
				cmds[i] = applyScript.EvalSha(ctx, p, []string{c.keys.base(exp) + "assignments"}, groups[exp]...)
			}
			c.index(ctx, p, evs, order)
			return nil
		})
		if attempt > 0 || !isNoScript(err) {
			break
		}
		// A Redis that restarted (or a new one) lacks the script: load it and
		// run the batch again; what ran before is idempotent.
		if err := applyScript.Load(ctx, c.rdb).Err(); err != nil {
			return nil, fmt.Errorf("load counters script: %w", err)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("apply counters: %w", err)
	}
	for g, cmd := range cmds {
		codes, err := cmd.Int64Slice()
		if err != nil {
			return nil, fmt.Errorf("apply counters: %w", err)
		}
		for j, code := range codes {
			idx := owners[order[g]][j]
			out[idx] = max(out[idx], fromScript(code)) // several attributions: the best outcome
		}
	}
	return out, nil
}

// index records which experiments exist and which experiments each exposed
// user saw. Both writes are idempotent set additions outside the scripts (on a
// cluster they live in other slots).
func (c *Counters) index(ctx context.Context, p redis.Pipeliner, evs []events.Event, experiments []string) {
	if len(experiments) > 0 {
		members := make([]any, len(experiments))
		for i, e := range experiments {
			members[i] = e
		}
		p.SAdd(ctx, c.keys.experiments(), members...)
	}
	for i := range evs {
		if evs[i].Type == events.TypeExposure {
			p.SAdd(ctx, c.keys.userExperiments(evs[i].UserID), evs[i].Experiment)
		}
	}
}

// userExperiments looks up, for the users of conversions without an
// experiment, every experiment they were exposed to.
func (c *Counters) userExperiments(ctx context.Context, evs []events.Event) (map[string][]string, error) {
	cmds := map[string]*redis.StringSliceCmd{}
	for i := range evs {
		if evs[i].Type == events.TypeConversion && evs[i].Experiment == "" {
			cmds[evs[i].UserID] = nil
		}
	}
	if len(cmds) == 0 {
		return nil, nil
	}
	_, err := c.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for u := range cmds {
			cmds[u] = p.SMembers(ctx, c.keys.userExperiments(u))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("look up users' experiments: %w", err)
	}
	out := make(map[string][]string, len(cmds))
	for u, cmd := range cmds {
		out[u] = cmd.Val()
	}
	return out, nil
}

func union(a []string, b map[string]bool) []string {
	out := append([]string(nil), a...)
	for e := range b {
		found := false
		for _, x := range a {
			if x == e {
				found = true
				break
			}
		}
		if !found {
			out = append(out, e)
		}
	}
	return out
}

func isNoScript(err error) bool {
	return err != nil && strings.HasPrefix(err.Error(), "NOSCRIPT")
}
