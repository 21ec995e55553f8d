package live

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/flagstream/flagstream/pkg/events"
)

// Counters writes and reads the live counters.
type Counters struct {
	rdb  redis.UniversalClient
	keys keys
	opt  Options
	// listed are the experiments this process has put into the experiments
	// set: each is added once, after the script counted something in it, so
	// that an archived experiment is not listed again by its late events.
	listed sync.Map
}

// Options are the lifetimes of what the counters keep in Redis. Every key
// has one, so Redis does not grow with every user and day ever seen.
type Options struct {
	// Window: the live counters take an event only while its ts is at most
	// this old (by the ingest's clock); older events go to the report only
	// (the consumer checks, see [Counters.Live]). An event's dedup marker
	// lives until the end of its ts's UTC day plus Window plus an hour for
	// clock skew between ingest instances, so for every event the counters
	// take, a resend (a redelivery, a sender's retry days later) finds its
	// marker: the live counters never count an event twice.
	Window time.Duration
	// Retention: per-day counters live until the end of their day plus this.
	Retention time.Duration
	// UserTTL: per-user state (a user's experiments; an experiment's
	// assignments hash, as a whole) lives this long after its last write.
	UserTTL time.Duration
}

// Defaults of [Options].
const (
	// DefaultWindow: two days, so that an ingest outage over a weekend night
	// still lands in the live counters. Memory is about 60 bytes of Redis per
	// event of the last Window + 1 day (measured: docs, README).
	DefaultWindow    = 48 * time.Hour
	DefaultRetention = 90 * 24 * time.Hour
	DefaultUserTTL   = 90 * 24 * time.Hour
	// skew is added to a marker's life for clocks that disagree between
	// ingest instances.
	skew = time.Hour
)

// Validate says what is wrong with o, naming the setting (the ingest flags).
func (o Options) Validate() error {
	var errs []error
	if o.Window < time.Minute {
		errs = append(errs, fmt.Errorf("dedup-window %s: want at least 1m (markers shorter than a batch's round trip would let redeliveries count twice)", o.Window))
	}
	if o.Retention < o.Window+24*time.Hour {
		errs = append(errs, fmt.Errorf("live-retention %s: want at least dedup-window + 24h (%s), or counted days would expire before their markers", o.Retention, o.Window+24*time.Hour))
	}
	if o.UserTTL < o.Window {
		errs = append(errs, fmt.Errorf("user-ttl %s: want at least dedup-window (%s)", o.UserTTL, o.Window))
	}
	return errors.Join(errs...)
}

func (o Options) withDefaults() Options {
	if o.Window == 0 {
		o.Window = DefaultWindow
	}
	if o.Retention == 0 {
		o.Retention = DefaultRetention
	}
	if o.UserTTL == 0 {
		o.UserTTL = DefaultUserTTL
	}
	return o
}

// New returns counters on rdb with every key under prefix ("" for the seed's
// exact layout); zero fields of o take their defaults. It panics on options
// that [Options.Validate] refuses: check configured ones first.
func New(rdb redis.UniversalClient, prefix string, o Options) *Counters {
	o = o.withDefaults()
	if err := o.Validate(); err != nil {
		panic("live.New: " + err.Error())
	}
	return &Counters{rdb: rdb, keys: newKeys(rdb, prefix), opt: o}
}

// Live reports whether the live counters take an event with this ts at now;
// an event they do not take goes to the report only.
func (c *Counters) Live(ts, now time.Time) bool { return !ts.Before(now.Add(-c.opt.Window)) }

// Apply counts a batch of valid events, each at most once, and reports what
// happened to each. Events older than the window are not counted
// ([ReportOnly]). A conversion that arrives before its user's exposure is
// held (see [Held]); exposures count before conversions of the same batch
// only if they come first in evs.
func (c *Counters) Apply(ctx context.Context, evs []events.Event) ([]Status, error) {
	return c.apply(ctx, evs, time.Now(), rebuild(false))
}

// rebuild is how [Counters.Rebuild] applies: no window, and nothing held (a
// conversion of a user not yet assigned is [Unattributed]: the report's own
// events are in time order, so its exposure is not on its way).
type rebuild bool

// Rebuild counts events as [Counters.Apply] does, whatever their age: for
// rebuilding an experiment's live counters from the report's raw events,
// which are distinct already. Days past the retention expire at once, as
// they would have.
func (c *Counters) Rebuild(ctx context.Context, evs []events.Event) ([]Status, error) {
	return c.apply(ctx, evs, time.Now(), rebuild(true))
}

// Status is what applying did to one event.
type Status uint8

const (
	// Unattributed: a conversion of a user with no assignment (in the named
	// experiment, or in any, for a conversion that names none): counted nowhere,
	// as in the seed. Nothing was written; applying it again later counts it
	// if the user's exposure has arrived meanwhile.
	Unattributed Status = iota
	// ReportOnly: the event's ts is older than the window ([Options.Window]):
	// the live counters do not take it (its dedup marker may be gone), the
	// report does.
	ReportOnly
	// Archived: the experiment's live counters were archived
	// ([Counters.Archive]); the event goes to the report only.
	Archived
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
// exposed within this time counts nowhere, as in the seed, and
// [Counters.SweepHeld] counts it as lost to the live counters.
const PendingTTL = time.Hour

// fromScript maps the script's codes (0 duplicate, 1 counted, 3 held, 4
// archived).
func fromScript(code int64) Status {
	switch code {
	case 0:
		return Duplicate
	case 1:
		return Counted
	case 3:
		return Held
	case 4:
		return Archived
	}
	return Unattributed
}

// Marker is an event's dedup token: events are the same when they have the
// same id and the same user (ids need only be unique per user, as in
// ClickHouse, which deduplicates per experiment and user). 96 bits of
// SHA-256, hex: shorter than most ids, and fixed in size whatever the user id.
func Marker(userID, id string) string {
	h := sha256.New()
	h.Write([]byte(userID))
	h.Write([]byte{0})
	h.Write([]byte(id))
	var sum [sha256.Size]byte
	return hex.EncodeToString(h.Sum(sum[:0])[:12])
}

// dayLife is, for one UTC day, when its dedup markers and its counters expire.
type dayLife struct{ markers, counters int64 }

func (c *Counters) life(day time.Time) dayLife {
	end := day.Add(24 * time.Hour)
	return dayLife{markers: end.Add(c.opt.Window + skew).Unix(), counters: end.Add(c.opt.Retention).Unix()}
}

func (c *Counters) apply(ctx context.Context, evs []events.Event, now time.Time, mode rebuild) ([]Status, error) {
	holdMs := int64(PendingTTL / time.Millisecond)
	if mode {
		holdMs = 0
	}
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
	lives := map[string]dayLife{}
	addTo := func(exp string, idx int, args ...any) {
		g, ok := groups[exp]
		if !ok {
			order = append(order, exp)
			g = []any{c.keys.base(exp), holdMs, int64(c.opt.UserTTL / time.Second),
				now.UnixMilli(), int64((PendingTTL + 24*time.Hour) / time.Second), int64(c.opt.Retention / time.Second)}
		}
		groups[exp] = append(g, args...)
		owners[exp] = append(owners[exp], idx)
	}
	seenIn := map[string]map[string]bool{} // user → experiments exposed to in this batch so far
	for i := range evs {
		e := &evs[i]
		if !bool(mode) && !c.Live(e.TS, now) {
			out[i] = ReportOnly
			continue
		}
		dayStart := e.TS.UTC().Truncate(24 * time.Hour)
		day := dayStart.Format(time.DateOnly)
		l, ok := lives[day]
		if !ok {
			l = c.life(dayStart)
			lives[day] = l
		}
		marker := Marker(e.UserID, e.ID)
		switch e.Type {
		case events.TypeExposure:
			addTo(e.Experiment, i, "E", marker, e.Variant, e.UserID, day, "", l.markers, l.counters)
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
				addTo(exp, i, "C", marker, e.ConversionType, e.UserID, day, value, l.markers, l.counters)
			}
		}
	}

	cmds := make([]*redis.Cmd, len(order))
	err = c.run(ctx, applyScript, func(p redis.Pipeliner) {
		for i, exp := range order {
			cmds[i] = applyScript.EvalSha(ctx, p, []string{c.keys.base(exp) + "assignments"}, groups[exp]...)
		}
		c.indexUsers(ctx, p, evs)
	})
	if err != nil {
		return nil, fmt.Errorf("apply counters: %w", err)
	}
	var unlisted []any
	for g, cmd := range cmds {
		codes, err := cmd.Int64Slice()
		if err != nil {
			return nil, fmt.Errorf("apply counters: %w", err)
		}
		wrote := false
		for j, code := range codes {
			idx := owners[order[g]][j]
			st := fromScript(code)
			out[idx] = max(out[idx], st) // several attributions: the best outcome
			wrote = wrote || st >= Held
		}
		if _, ok := c.listed.Load(order[g]); wrote && !ok {
			unlisted = append(unlisted, order[g])
		}
	}
	if len(unlisted) > 0 {
		if err := c.rdb.SAdd(ctx, c.keys.experiments(), unlisted...).Err(); err != nil {
			return nil, fmt.Errorf("list experiments: %w", err)
		}
		for _, e := range unlisted {
			c.listed.Store(e, true)
		}
	}
	return out, nil
}

// run runs a pipeline of one script's EvalSha calls, loading the script once
// if Redis does not know it yet (after a restart or a SCRIPT FLUSH).
func (c *Counters) run(ctx context.Context, s *redis.Script, fill func(redis.Pipeliner)) error {
	for attempt := 0; ; attempt++ {
		_, err := c.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			fill(p)
			return nil
		})
		if attempt > 0 || !isNoScript(err) {
			return err
		}
		if err := loadScript(ctx, c.rdb, s); err != nil {
			return fmt.Errorf("load script: %w", err)
		}
	}
}

// loadScript loads s on every node that may run it (each master of a cluster).
func loadScript(ctx context.Context, rdb redis.UniversalClient, s *redis.Script) error {
	if cc, ok := rdb.(*redis.ClusterClient); ok {
		return cc.ForEachMaster(ctx, func(ctx context.Context, n *redis.Client) error {
			return s.Load(ctx, n).Err()
		})
	}
	return s.Load(ctx, rdb).Err()
}

// indexUsers records, for conversions that name no experiment, each exposed
// user's experiments, which live UserTTL after their last exposure.
func (c *Counters) indexUsers(ctx context.Context, p redis.Pipeliner, evs []events.Event) {
	done := map[string]bool{}
	for i := range evs {
		if evs[i].Type != events.TypeExposure {
			continue
		}
		k := c.keys.userExperiments(evs[i].UserID)
		p.SAdd(ctx, k, evs[i].Experiment)
		if !done[k] {
			p.Expire(ctx, k, c.opt.UserTTL)
			done[k] = true
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
