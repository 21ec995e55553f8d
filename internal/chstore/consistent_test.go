package chstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/flagstream/flagstream/internal/chstore/chstoretest"
	"github.com/flagstream/flagstream/internal/report"
	"github.com/flagstream/flagstream/pkg/events"
	"github.com/flagstream/flagstream/pkg/stats"
)

// A refresh writes user_state and user_metric through two materialized
// views of one INSERT, which are not atomic together, and a newer refresh
// can land between two reads: a reader may see one table's rows of a
// refresh without the other's. The test makes both mixes with the real
// refresh, by detaching one view while some events are refreshed:
//
//   - metric_first: a new converter's user_metric row is there, its
//     user_state row is not (yet);
//   - state_first: a user's user_state row says they have since seen a second
//     variant, their user_metric row is the older one that says they have not.
//
// Whatever the mix, a report counts a converter only among the users it
// counts, with every user's variant, first day and switch taken from the
// same read of user_state: the figures are those of the events user_state
// reflects, and no variant comes back as invalid_counts.
func TestReportsReadOneStateMidRefresh(t *testing.T) {
	s, conn := newStoreConn(t)
	ctx := context.Background()
	at := func(d, h int) time.Time { return day0.AddDate(0, 0, d).Add(time.Duration(h) * time.Hour) }
	value := func(v float64) *float64 { return &v }
	exposure := func(exp, id, user, variant string, d int) events.Event {
		return events.Event{ID: exp + "-" + id, Type: events.TypeExposure, Experiment: exp, Variant: variant, UserID: user, TS: at(d, 10)}
	}
	buy := func(exp, id, user string, d int, v float64) events.Event {
		return events.Event{ID: exp + "-" + id, Type: events.TypeConversion, Experiment: exp, UserID: user,
			ConversionType: "buy", Value: value(v), TS: at(d, 12)}
	}
	base := func(exp string) []events.Event {
		return []events.Event{
			exposure(exp, "c1x", "c1", "control", 0), buy(exp, "c1b", "c1", 0, 5),
			exposure(exp, "c2x", "c2", "control", 1),
			exposure(exp, "t1x", "t1", "treatment", 0), buy(exp, "t1b", "t1", 1, 3),
		}
	}
	metricFirst, stateFirst := base("metric_first"), base("state_first")
	load(t, s, [][]events.Event{append(append([]events.Event(nil), metricFirst...), stateFirst...)}, 1)

	// t2, a new treatment user who converts: only user_metric hears of it.
	detach(t, conn, "user_state_mv")
	newcomer := []events.Event{exposure("metric_first", "t2x", "t2", "treatment", 1), buy("metric_first", "t2b", "t2", 1, 7)}
	load(t, s, [][]events.Event{newcomer}, 1)
	attach(t, conn, "user_state_mv")

	// t1 sees control on day 2: only user_state hears of it.
	detach(t, conn, "user_metric_mv")
	switcher := []events.Event{exposure("state_first", "t1y", "t1", "control", 2)}
	load(t, s, [][]events.Event{switcher}, 1)
	attach(t, conn, "user_metric_mv")

	from, to := day0, day0.AddDate(0, 0, 5)
	for _, c := range []struct {
		exp string
		// seen are the events user_state reflects: what the figures must be.
		seen []events.Event
	}{
		{"metric_first", metricFirst},
		{"state_first", append(append([]events.Event(nil), stateFirst...), switcher...)},
	} {
		t.Run(c.exp, func(t *testing.T) {
			for _, end := range []time.Time{day0, day0.AddDate(0, 0, 1), to} {
				checkCounts(t, s, c.seen, c.exp, "buy", from, end)
			}
			deltas, err := s.Daily(ctx, c.exp, "buy", from, to)
			if err != nil {
				t.Fatal(err)
			}
			for d := from; !d.After(to); d = d.AddDate(0, 0, 1) {
				if got, want := accumulate(deltas, d), chstoretest.Expected(c.seen, c.exp, "buy", from, d); !equalCounts(got, want) {
					t.Errorf("Daily through %s:\n got %+v\nwant %+v", d.Format(time.DateOnly), got, want)
				}
			}

			p := report.Params{Experiment: c.exp, Metric: "buy", From: from, To: to}
			rep, err := report.Build(ctx, s, p, to)
			if err != nil {
				t.Fatal(err)
			}
			checkNoInvalidCounts(t, "report", rep.Warnings)
			daily, err := report.BuildDaily(ctx, s, p, to)
			if err != nil {
				t.Fatal(err)
			}
			for _, day := range daily.Days {
				checkNoInvalidCounts(t, "daily "+day.Date, day.Warnings)
			}
		})
	}
}

func checkNoInvalidCounts(t *testing.T, what string, ws []stats.Warning) {
	t.Helper()
	for _, w := range ws {
		if w.Code == stats.CodeInvalidCounts {
			t.Errorf("%s: %s for %q: %s", what, w.Code, w.Variant, w.Message)
		}
	}
}

// detach stops a materialized view from receiving what is inserted into
// state_refresh, until attach (the test's database is its own).
func detach(t *testing.T, conn driver.Conn, view string) {
	t.Helper()
	if err := conn.Exec(context.Background(), "DETACH TABLE "+view); err != nil {
		t.Fatal(err)
	}
}

func attach(t *testing.T, conn driver.Conn, view string) {
	t.Helper()
	if err := conn.Exec(context.Background(), "ATTACH TABLE "+view); err != nil {
		t.Fatal(err)
	}
}
