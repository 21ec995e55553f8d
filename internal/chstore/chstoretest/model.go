// Package chstoretest holds a reference implementation of the report's
// counting rules, in plain Go over a list of events, for tests of the
// ClickHouse queries and of the aggregator end to end.
package chstoretest

import (
	"sort"
	"time"

	"github.com/flagstream/flagstream/internal/chstore"
	"github.com/flagstream/flagstream/pkg/events"
)

// Expected counts what a report on experiment for metric over the UTC days
// [from, to] must show, from every event ever sent (duplicates included):
// the same rules as chstore, written the obvious way.
func Expected(evs []events.Event, experiment, metric string, from, to time.Time) []chstore.VariantCounts {
	seen := map[string]bool{}
	type user struct {
		first     int64
		variant   string
		switchAt  int64 // first exposure to another variant; 0: none
		totalN    int64
		totalV    float64
		converted bool
	}
	// dedup
	var uniq []events.Event
	for _, e := range evs {
		if seen[e.ID] {
			continue
		}
		seen[e.ID] = true
		uniq = append(uniq, e)
	}
	sort.SliceStable(uniq, func(i, j int) bool { return uniq[i].TS.Before(uniq[j].TS) })
	users := map[string]*user{}
	for _, e := range uniq {
		if e.Type != events.TypeExposure || e.Experiment != experiment {
			continue
		}
		ms := e.TS.UnixMilli()
		u := users[e.UserID]
		if u == nil {
			users[e.UserID] = &user{first: ms, variant: e.Variant}
			continue
		}
		if e.Variant != u.variant && u.switchAt == 0 {
			u.switchAt = ms
		}
	}
	toEnd := to.AddDate(0, 0, 1)
	for _, e := range uniq {
		if e.Type != events.TypeConversion || e.ConversionType != metric || (e.Experiment != "" && e.Experiment != experiment) {
			continue
		}
		u := users[e.UserID]
		if u == nil || e.TS.UnixMilli() < u.first || !e.TS.Before(toEnd) {
			continue
		}
		u.totalN++
		u.totalV += e.ValueOrDefault()
	}
	byVariant := map[string]*chstore.VariantCounts{}
	for _, u := range users {
		firstDay := time.UnixMilli(u.first).UTC()
		if firstDay.Before(from) || !firstDay.Before(toEnd) {
			continue
		}
		c := byVariant[u.variant]
		if c == nil {
			c = &chstore.VariantCounts{Variant: u.variant}
			byVariant[u.variant] = c
		}
		if u.switchAt != 0 && time.UnixMilli(u.switchAt).Before(toEnd) {
			c.Multiple++
			continue
		}
		c.Users++
		if u.totalN > 0 {
			c.Converters++
			c.Conversions += u.totalN
		}
		c.ValueSum += u.totalV
		c.ValueSumSq += u.totalV * u.totalV
	}
	out := make([]chstore.VariantCounts, 0, len(byVariant))
	for _, c := range byVariant {
		out = append(out, *c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Variant < out[j].Variant })
	return out
}
