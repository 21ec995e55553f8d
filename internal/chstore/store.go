package chstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/ext"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/flagstream/flagstream/pkg/events"
)

// ErrNotFound means the experiment has no exposures recorded.
var ErrNotFound = errors.New("experiment not found")

// Store reads and writes the analytics tables of one ClickHouse database.
type Store struct {
	conn driver.Conn
}

// New returns a store on conn, whose database the migrations were applied to.
func New(conn driver.Conn) *Store { return &Store{conn: conn} }

// Ping checks that ClickHouse answers.
func (s *Store) Ping(ctx context.Context) error { return s.conn.Ping(ctx) }

const insertEvents = `INSERT INTO events (id, type, experiment, variant, user_id, conversion_type, value, ts_ms, day, flag_version, inserted_at)`

// Insert writes a batch of events to the raw table in one insert (a
// materialized view adds the (user, experiment) pairs of its exposures to
// user_experiments within it). It does not refresh the state: call Refresh
// with the batch's Touched after Insert returned (the order matters for
// attributing conversions that name no experiment; see Refresh).
func (s *Store) Insert(ctx context.Context, evs []events.Event, now time.Time) error {
	if len(evs) == 0 {
		return nil
	}
	b, err := s.conn.PrepareBatch(ctx, insertEvents)
	if err != nil {
		return fmt.Errorf("insert events: %w", err)
	}
	defer b.Abort()
	now = now.UTC().Truncate(time.Second)
	for i := range evs {
		e := &evs[i]
		ts := e.TS.UTC()
		value := 0.0
		if e.Type == events.TypeConversion {
			value = e.ValueOrDefault()
		}
		if err := b.Append(e.ID, string(e.Type), e.Experiment, e.Variant, e.UserID, e.ConversionType, value,
			ts.UnixMilli(), dayOf(ts), e.FlagVersion, now); err != nil {
			return fmt.Errorf("insert events: %w", err)
		}
	}
	if err := b.Send(); err != nil {
		return fmt.Errorf("insert events: %w", err)
	}
	if err := s.insertPerVersion(ctx, evs, insertWeights, "weights", weightsOf); err != nil {
		return err
	}
	return s.insertPerVersion(ctx, evs, insertControl, "control", controlOf)
}

// What the exposures say about their flag, kept per (experiment, flag
// version): the weights (0003) and the control (0004). The columns are
// (experiment, flag_version, <value>, last_seen) in both.
const (
	insertWeights = `INSERT INTO experiment_weights (experiment, flag_version, weights, last_seen)`
	insertControl = `INSERT INTO experiment_control (experiment, flag_version, control, last_seen)`
)

// weightsOf is an exposure's weights as one string per split (JSON, keys
// sorted), if it carries any.
func weightsOf(e *events.Event) (string, bool) {
	if len(e.Weights) == 0 {
		return "", false
	}
	w, err := json.Marshal(e.Weights)
	if err != nil {
		return "", false // not finite: Validate refuses it before here
	}
	return string(w), true
}

// controlOf is an exposure's control, if it carries one (exposures stored
// by senders that predate the field do not).
func controlOf(e *events.Event) (string, bool) { return e.Control, e.Control != "" }

// insertPerVersion records the distinct (experiment, flag version, value)
// of a batch's exposures, with the latest ts each was seen at. Repeats
// merge away (ReplacingMergeTree on all three), so a redelivered batch
// changes nothing.
func (s *Store) insertPerVersion(ctx context.Context, evs []events.Event, query, what string, value func(*events.Event) (string, bool)) error {
	type key struct {
		experiment string
		version    int64
		value      string
	}
	seen := map[key]time.Time{}
	for i := range evs {
		e := &evs[i]
		if e.Type != events.TypeExposure {
			continue
		}
		v, ok := value(e)
		if !ok {
			continue
		}
		k := key{e.Experiment, e.FlagVersion, v}
		if t := e.TS.UTC().Truncate(time.Second); t.After(seen[k]) {
			seen[k] = t
		}
	}
	if len(seen) == 0 {
		return nil
	}
	b, err := s.conn.PrepareBatch(ctx, query)
	if err != nil {
		return fmt.Errorf("insert %s: %w", what, err)
	}
	defer b.Abort()
	for k, t := range seen {
		if err := b.Append(k.experiment, k.version, k.value, t); err != nil {
			return fmt.Errorf("insert %s: %w", what, err)
		}
	}
	if err := b.Send(); err != nil {
		return fmt.Errorf("insert %s: %w", what, err)
	}
	return nil
}

// dayOf is the UTC calendar day of t, as midnight UTC.
func dayOf(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// Touched collects what a set of events touches: (experiment, user) pairs,
// and users with conversions that name no experiment (resolved to pairs by
// Refresh). The zero value is empty and ready to use.
type Touched struct {
	pairs map[Pair]struct{}
	loose map[string]struct{}
}

// Pair is an (experiment, user).
type Pair struct{ Experiment, User string }

// Add records what e touches.
func (t *Touched) Add(e *events.Event) {
	if e.Experiment == "" {
		if t.loose == nil {
			t.loose = map[string]struct{}{}
		}
		t.loose[e.UserID] = struct{}{}
		return
	}
	if t.pairs == nil {
		t.pairs = map[Pair]struct{}{}
	}
	t.pairs[Pair{e.Experiment, e.UserID}] = struct{}{}
}

// Merge adds everything o touches.
func (t *Touched) Merge(o *Touched) {
	for p := range o.pairs {
		if t.pairs == nil {
			t.pairs = map[Pair]struct{}{}
		}
		t.pairs[p] = struct{}{}
	}
	for u := range o.loose {
		if t.loose == nil {
			t.loose = map[string]struct{}{}
		}
		t.loose[u] = struct{}{}
	}
}

// Len is the number of pairs and loose users.
func (t *Touched) Len() int { return len(t.pairs) + len(t.loose) }

// Refresh recomputes the state of every pair t touched from the raw events,
// first resolving users with conversions that name no experiment to the
// experiments they were exposed to. It returns the number of pairs refreshed.
//
// Call it after the events' Insert returned. A conversion without an
// experiment and the exposure it belongs to may be inserted concurrently, by
// different batches: the conversion's batch looks up the user's experiments
// after writing the conversion, and the exposure's batch reads the user's
// conversions after writing the exposure (and user_experiments), so at least
// one of the two refreshes sees both.
func (s *Store) Refresh(ctx context.Context, t *Touched) (int, error) {
	pairs := make(map[Pair]struct{}, len(t.pairs))
	for p := range t.pairs {
		pairs[p] = struct{}{}
	}
	if len(t.loose) > 0 {
		users, err := ext.NewTable("loose", ext.Column("user_id", "String"))
		if err != nil {
			return 0, err
		}
		for u := range t.loose {
			if err := users.Append(u); err != nil {
				return 0, err
			}
		}
		qctx := clickhouse.Context(ctx, clickhouse.WithExternalTable(users))
		rows, err := s.conn.Query(qctx, "SELECT DISTINCT experiment, user_id FROM user_experiments WHERE user_id IN (SELECT user_id FROM loose)")
		if err != nil {
			return 0, fmt.Errorf("look up exposures of users: %w", err)
		}
		for rows.Next() {
			var p Pair
			if err := rows.Scan(&p.Experiment, &p.User); err != nil {
				rows.Close()
				return 0, fmt.Errorf("look up exposures of users: %w", err)
			}
			pairs[p] = struct{}{}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return 0, fmt.Errorf("look up exposures of users: %w", err)
		}
	}
	if len(pairs) == 0 {
		return 0, nil
	}
	dirty, err := ext.NewTable("dirty", ext.Column("experiment", "String"), ext.Column("user_id", "String"))
	if err != nil {
		return 0, err
	}
	for p := range pairs {
		if err := dirty.Append(p.Experiment, p.User); err != nil {
			return 0, err
		}
	}
	qctx := clickhouse.Context(ctx, clickhouse.WithExternalTable(dirty))
	if err := s.conn.Exec(qctx, refreshSQL); err != nil {
		return 0, fmt.Errorf("refresh %d (experiment, user) pairs: %w", len(pairs), err)
	}
	return len(pairs), nil
}
