package chstore

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"golang.org/x/sync/errgroup"
)

// DateLayout is how days travel to and from ClickHouse.
const DateLayout = time.DateOnly

// Summary describes one experiment.
type Summary struct {
	Key string `json:"key"`
	// Users is the number of users exposed, all time (multiple exposures
	// included); filled by Experiments only (it takes a FINAL read).
	Users    int64    `json:"users"`
	Variants []string `json:"variants"` // first-exposure variants, sorted
	FirstDay string   `json:"first_day"`
	LastDay  string   `json:"last_day"` // last day with an exposure or a counted conversion
	Metrics  []Metric `json:"metrics"`  // most converters first
	// Weights are the flag's variant weights its exposures carried, from
	// the latest flag version (filled by Experiment only; nil if no exposure
	// carried any); WeightsChanged says earlier versions had others.
	Weights        map[string]float64 `json:"weights,omitempty"`
	WeightsChanged bool               `json:"weights_changed,omitempty"`
	// Control is the flag's first variant as its exposures carried it, from
	// the latest flag version that carried one (filled by Experiment only;
	// "" if no exposure carried any); ControlChanged says earlier versions
	// named another.
	Control        string `json:"control,omitempty"`
	ControlChanged bool   `json:"control_changed,omitempty"`
}

// First is FirstDay as a time (midnight UTC; zero if unset).
func (s Summary) First() time.Time { d, _ := time.Parse(DateLayout, s.FirstDay); return d }

// Last is LastDay as a time (midnight UTC; zero if unset).
func (s Summary) Last() time.Time { d, _ := time.Parse(DateLayout, s.LastDay); return d }

// Metric is a conversion type seen in an experiment, with the users who had
// one at or after their first exposure (all time).
type Metric struct {
	Name       string `json:"name"`
	Converters int64  `json:"converters"`
}

// finalSettings keeps ClickHouse from moving WHERE conditions into PREWHERE
// on queries with FINAL, which would filter rows before the newest version of
// each is chosen (ClickHouse 18.16 may do so; current releases do not).
func finalSettings(ctx context.Context) context.Context {
	return clickhouse.Context(ctx, clickhouse.WithSettings(clickhouse.Settings{"optimize_move_to_prewhere": 0}))
}

// Experiments lists every experiment with exposures, by key, with exact
// user and converter counts.
func (s *Store) Experiments(ctx context.Context) ([]Summary, error) {
	ctx = finalSettings(ctx)
	var out []Summary
	var metrics map[string][]Metric
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		rows, err := s.conn.Query(gctx, `SELECT experiment, count(), groupUniqArray(variant),
			toString(min(first_day)), toString(max(last_day)) FROM user_state FINAL GROUP BY experiment ORDER BY experiment`)
		if err != nil {
			return fmt.Errorf("list experiments: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var sm Summary
			var users uint64
			if err := rows.Scan(&sm.Key, &users, &sm.Variants, &sm.FirstDay, &sm.LastDay); err != nil {
				return fmt.Errorf("list experiments: %w", err)
			}
			sm.Users = int64(users)
			sort.Strings(sm.Variants)
			out = append(out, sm)
		}
		return rows.Err()
	})
	g.Go(func() error {
		var err error
		metrics, err = s.metrics(gctx, "FINAL", "")
		return err
	})
	if err := g.Wait(); err != nil {
		return nil, err
	}
	for i := range out {
		out[i].Metrics = metrics[out[i].Key]
		if out[i].Metrics == nil {
			out[i].Metrics = []Metric{}
		}
	}
	return out, nil
}

// Experiment describes one experiment for a report, or returns ErrNotFound.
// It reads without FINAL, to stay cheap on a report's path: Users is not
// filled, and the converters of its Metrics, which only rank them, may
// count a user twice until ClickHouse has merged their rows. FirstDay and
// LastDay are exact (they only move outwards from one version of a row to
// the next).
func (s *Store) Experiment(ctx context.Context, key string) (Summary, error) {
	sm := Summary{Key: key}
	var found uint64
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		err := s.conn.QueryRow(gctx, `SELECT count(), groupUniqArray(variant), toString(min(first_day)), toString(max(last_day))
			FROM user_state WHERE experiment = ?`, key).Scan(&found, &sm.Variants, &sm.FirstDay, &sm.LastDay)
		if err != nil {
			return fmt.Errorf("read experiment: %w", err)
		}
		sort.Strings(sm.Variants)
		return nil
	})
	g.Go(func() error {
		m, err := s.metrics(gctx, "", key)
		sm.Metrics = m[key]
		return err
	})
	g.Go(func() error {
		var err error
		sm.Weights, sm.WeightsChanged, err = s.weights(gctx, key)
		return err
	})
	g.Go(func() error {
		var err error
		sm.Control, sm.ControlChanged, err = s.latestPerVersion(gctx, "experiment_control", "control", key)
		return err
	})
	if err := g.Wait(); err != nil {
		return Summary{}, err
	}
	if found == 0 {
		return Summary{}, fmt.Errorf("%w: no exposures recorded for %q", ErrNotFound, key)
	}
	if sm.Metrics == nil {
		sm.Metrics = []Metric{}
	}
	return sm, nil
}

// metrics counts the users with conversions per experiment and type, for
// one experiment (key != "") or all; final is "FINAL" for exact counts.
func (s *Store) metrics(ctx context.Context, final, key string) (map[string][]Metric, error) {
	where, args := "", []any{}
	if key != "" {
		where, args = "WHERE experiment = ?", []any{key}
	}
	rows, err := s.conn.Query(ctx, `SELECT experiment, conversion_type, count() FROM user_metric `+final+` `+where+`
		GROUP BY experiment, conversion_type`, args...)
	if err != nil {
		return nil, fmt.Errorf("list metrics: %w", err)
	}
	defer rows.Close()
	out := map[string][]Metric{}
	for rows.Next() {
		var e, name string
		var n uint64
		if err := rows.Scan(&e, &name, &n); err != nil {
			return nil, fmt.Errorf("list metrics: %w", err)
		}
		out[e] = append(out[e], Metric{Name: name, Converters: int64(n)})
	}
	for _, ms := range out {
		sort.Slice(ms, func(i, j int) bool {
			if ms[i].Converters != ms[j].Converters {
				return ms[i].Converters > ms[j].Converters
			}
			return ms[i].Name < ms[j].Name
		})
	}
	return out, rows.Err()
}

// VariantCounts are one variant's figures for one metric over a range:
// users first exposed in the range to this variant (and to no other by its
// end), their conversions of the metric from first exposure to the range's
// end, and the users left out for a second variant (Multiple).
type VariantCounts struct {
	Variant     string
	Users       int64
	Converters  int64
	Conversions int64
	ValueSum    float64
	ValueSumSq  float64 // Σ over users of the square of each user's total value over the range
	Multiple    int64
}

// A report reads user_state and user_metric in one SELECT. A refresh
// writes both through two materialized views of one INSERT, which are not
// atomic together, and a later refresh can land between two reads: two
// queries could see a user's user_metric row (a converter) without their
// user_state row, or each at another version (one switched, the other not),
// and count more converters than users. So every query below is driven by
// user_state FINAL: each user's variant, first day and switch come from
// there, never from user_metric's copies, and user_metric's per-user
// figures are joined to those rows (a converter counts only if the same
// read counts them as a user).
//
// The join is written `ANY LEFT JOIN (subquery) USING (user_id)`, the form
// ClickHouse 18.16 accepts and current releases keep: a user without a row
// in user_metric reads its figures as 0 and its arrays as empty, because
// join_use_nulls is 0 by default on both (see docs/clickhouse.md).

// countsSQL counts, per variant, the users first exposed in [from, to] and
// the metric's figures of those of them not exposed to a second variant by
// `to`; %s is the right side's per-user figures c (conversions), s (value)
// and metric_last (the row's last conversion day: see Counts).
const countsSQL = `
SELECT variant, countIf(NOT multi), countIf(multi),
       countIf(NOT multi AND c > 0), sumIf(c, NOT multi), sumIf(s, NOT multi), sumIf(s * s, NOT multi),
       toString(max(metric_last))
FROM (
    SELECT user_id, variant, first_day, switched = 1 AND switch_day <= toDate(?) AS multi
    FROM user_state FINAL
    WHERE experiment = ?
) ANY LEFT JOIN (
    SELECT user_id, %s, last_day AS metric_last
    FROM user_metric FINAL
    WHERE experiment = ? AND conversion_type = ?
) USING (user_id)
WHERE first_day >= toDate(?) AND first_day <= toDate(?)
GROUP BY variant`

// countsDaysSQL sums each user's days up to `to`.
var countsDaysSQL = fmt.Sprintf(countsSQL, `
           arraySum(arrayFilter((n, d) -> d <= toDate(?), counts, days)) AS c,
           arraySum(arrayFilter((x, d) -> d <= toDate(?), sums, days)) AS s`)

// countsTotalsSQL is countsDaysSQL for a range that ends on or after every
// user's last conversion day: the per-user totals, no arrays.
var countsTotalsSQL = fmt.Sprintf(countsSQL, `total_count AS c, total_sum AS s`)

// Counts returns the figures of every variant with users first exposed in
// [from, to], sorted by variant name, from one read of the state.
func (s *Store) Counts(ctx context.Context, key, metric string, from, to time.Time) ([]VariantCounts, error) {
	f, t := from.Format(DateLayout), to.Format(DateLayout)
	ctx = finalSettings(ctx)
	totals := true
	if metric != "" {
		// last_day only grows from one version of a row to the next: max
		// over every version, without FINAL, is the newest's. It only picks
		// the query; the query itself says whether the totals it read were
		// the right ones.
		var last string
		if err := s.conn.QueryRow(ctx, `SELECT toString(max(last_day)) FROM user_metric WHERE experiment = ? AND conversion_type = ?`,
			key, metric).Scan(&last); err != nil {
			return nil, fmt.Errorf("count conversions: %w", err)
		}
		totals = last <= t
	}
	out, last, err := s.counts(ctx, totals, key, metric, f, t)
	if err == nil && totals && last > t {
		// A refresh since the check brought a conversion after `to` into
		// the totals this read used: read the days instead.
		out, _, err = s.counts(ctx, false, key, metric, f, t)
	}
	return out, err
}

// counts runs countsTotalsSQL (totals) or countsDaysSQL, and returns with
// the figures the latest last_day of the metric rows it read (of the users
// it counts).
func (s *Store) counts(ctx context.Context, totals bool, key, metric, f, t string) ([]VariantCounts, string, error) {
	query, args := countsDaysSQL, []any{t, key, t, t, key, metric, f, t}
	if totals {
		query, args = countsTotalsSQL, []any{t, key, key, metric, f, t}
	}
	rows, err := s.conn.Query(ctx, query, args...)
	if err != nil {
		return nil, "", fmt.Errorf("count users and conversions: %w", err)
	}
	defer rows.Close()
	var out []VariantCounts
	last := ""
	for rows.Next() {
		var c VariantCounts
		var users, multiple, converters, conversions uint64
		var rowLast string
		if err := rows.Scan(&c.Variant, &users, &multiple, &converters, &conversions, &c.ValueSum, &c.ValueSumSq, &rowLast); err != nil {
			return nil, "", fmt.Errorf("count users and conversions: %w", err)
		}
		c.Users, c.Multiple, c.Converters, c.Conversions = int64(users), int64(multiple), int64(converters), int64(conversions)
		out = append(out, c)
		last = max(last, rowLast)
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("count users and conversions: %w", err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Variant < out[j].Variant })
	return out, last, nil
}

// DayDelta is how one variant's figures change on one day of a cumulative
// series starting at the range's first day: users first exposed that day,
// conversions and value that day, converters whose first conversion it was,
// the change of Σ(user total)² (each user's square telescopes over their
// days), and on the day a user sees a second variant, everything they had
// contributed taken back (Users −1, Multiple +1). Summed from the first day
// to day D they give Counts for [from, D] exactly.
type DayDelta struct {
	Day         string
	Variant     string
	Users       int64
	Multiple    int64
	Converters  int64
	Conversions int64
	ValueSum    float64
	ValueSumSq  float64
}

// dailySQL gives, per user of user_state first exposed in [from, to], one
// change per day: the user's own (+1 user on the first day; on the switch
// day, −1 user and +1 multiple) followed by their conversions' (as far as
// the switch, which takes them back), all summed per variant and day. The
// metric's days are sorted on the join's right side, which holds only the
// users with conversions, rather than after it, for every user.
const dailySQL = `
SELECT variant, toString(day), sum(du), sum(dm), sum(dk), sum(dc), sum(ds), sum(dq)
FROM (
    SELECT variant,
           if(sw = 1, switch_day, toDate(?) + 1) AS cut,
           arrayFilter(d -> d < cut, sd) AS kd,
           arrayFilter((n, d) -> d < cut, sc, sd) AS kc,
           arrayFilter((x, d) -> d < cut, ss, sd) AS ks,
           arrayCumSum(ks) AS cum,
           arraySlice(arrayDifference(arrayConcat([0.], arrayMap(x -> x * x, cum))), 2) AS dq0,
           toUInt8(sw = 1 AND length(kd) > 0) AS back,
           arraySum(kc) AS tc,
           arraySum(ks) AS ts,
           arrayConcat(kd, arraySlice([switch_day], 1, back)) AS ed,
           arrayConcat(arrayMap(i -> toInt64(i = 1), arrayEnumerate(kd)), arraySlice([toInt64(-1)], 1, back)) AS ek,
           arrayConcat(arrayMap(n -> toInt64(n), kc), arraySlice([-toInt64(tc)], 1, back)) AS ec,
           arrayConcat(ks, arraySlice([-ts], 1, back)) AS es,
           arrayConcat(dq0, arraySlice([-(ts * ts)], 1, back)) AS eq,
           arrayConcat([first_day], arraySlice([switch_day], 1, sw)) AS ud,
           arrayMap(d -> toInt64(0), ud) AS uzero,
           arrayMap(d -> toInt64(0), ed) AS mzero,
           arrayMap(d -> 0., ud) AS uzerof,
           arrayConcat(ud, ed) AS all_day,
           arrayConcat([toInt64(1)], arraySlice([toInt64(-1)], 1, sw), mzero) AS all_du,
           arrayConcat([toInt64(0)], arraySlice([toInt64(1)], 1, sw), mzero) AS all_dm,
           arrayConcat(uzero, ek) AS all_dk,
           arrayConcat(uzero, ec) AS all_dc,
           arrayConcat(uzerof, es) AS all_ds,
           arrayConcat(uzerof, eq) AS all_dq
    FROM (
        SELECT user_id, variant, first_day, switch_day, toUInt8(switched = 1 AND switch_day <= toDate(?)) AS sw
        FROM user_state FINAL
        WHERE experiment = ?
    ) ANY LEFT JOIN (
        SELECT user_id, arraySort(days) AS sd, arraySort((n, d) -> d, counts, days) AS sc, arraySort((x, d) -> d, sums, days) AS ss
        FROM user_metric FINAL
        WHERE experiment = ? AND conversion_type = ?
    ) USING (user_id)
    WHERE first_day >= toDate(?) AND first_day <= toDate(?)
)
ARRAY JOIN all_day AS day, all_du AS du, all_dm AS dm, all_dk AS dk, all_dc AS dc, all_ds AS ds, all_dq AS dq
GROUP BY variant, day`

// Daily returns the per-day changes of every variant's figures over [from,
// to] (see DayDelta), in no particular order, from one read of the state.
func (s *Store) Daily(ctx context.Context, key, metric string, from, to time.Time) ([]DayDelta, error) {
	f, t := from.Format(DateLayout), to.Format(DateLayout)
	rows, err := s.conn.Query(finalSettings(ctx), dailySQL, t, t, key, key, metric, f, t)
	if err != nil {
		return nil, fmt.Errorf("daily users and conversions: %w", err)
	}
	defer rows.Close()
	var out []DayDelta
	for rows.Next() {
		var d DayDelta
		if err := rows.Scan(&d.Variant, &d.Day, &d.Users, &d.Multiple, &d.Converters, &d.Conversions, &d.ValueSum, &d.ValueSumSq); err != nil {
			return nil, fmt.Errorf("daily users and conversions: %w", err)
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("daily users and conversions: %w", err)
	}
	return out, nil
}

// weights reads the splits the experiment's exposures carried: the latest
// (highest flag version, then latest seen), and whether there were others.
func (s *Store) weights(ctx context.Context, key string) (map[string]float64, bool, error) {
	latest, changed, err := s.latestPerVersion(ctx, "experiment_weights", "weights", key)
	if err != nil || latest == "" {
		return nil, false, err
	}
	var m map[string]float64
	if err := json.Unmarshal([]byte(latest), &m); err != nil {
		return nil, false, fmt.Errorf("read weights: %q: %w", latest, err)
	}
	return m, changed, nil
}

// latestPerVersion reads what the experiment's exposures said about their
// flag in one of the per-version tables (column of table, both constants of
// this package): the latest value (highest flag version, then latest seen;
// "" if none), and whether an earlier one differed.
func (s *Store) latestPerVersion(ctx context.Context, table, column, key string) (string, bool, error) {
	rows, err := s.conn.Query(ctx, `SELECT `+column+` FROM `+table+` FINAL WHERE experiment = ?
		ORDER BY flag_version DESC, last_seen DESC`, key)
	if err != nil {
		return "", false, fmt.Errorf("read %s: %w", column, err)
	}
	defer rows.Close()
	var latest string
	changed := false
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return "", false, fmt.Errorf("read %s: %w", column, err)
		}
		if latest == "" {
			latest = v
		} else if v != latest {
			changed = true
		}
	}
	if err := rows.Err(); err != nil {
		return "", false, fmt.Errorf("read %s: %w", column, err)
	}
	return latest, changed, nil
}
