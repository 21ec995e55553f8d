package main

import (
	"bytes"
	"context"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/flagstream/flagstream/internal/chconn"
	"github.com/flagstream/flagstream/internal/chstore"
	"github.com/flagstream/flagstream/internal/chstore/chstoretest"
	"github.com/flagstream/flagstream/internal/testenv"
	"github.com/flagstream/flagstream/migrations"
)

// Events in the raw table whose state was never refreshed: `aggregate
// rebuild` recomputes it, says how far it got, and the report is the model's.
func TestRebuildCommand(t *testing.T) {
	dsn, _ := testenv.ClickHouseDSN(t)
	conn, err := chconn.Open(dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := migrations.Apply(ctx, conn); err != nil {
		t.Fatal(err)
	}
	store := chstore.New(conn)
	all := chstoretest.Workload(rand.New(rand.NewPCG(8, 8)), 40, day0, "cr-")
	if err := store.Insert(ctx, all, time.Now()); err != nil {
		t.Fatal(err)
	}
	to := day0.AddDate(0, 0, 7)
	if got, err := store.Counts(ctx, "exp_a", "purchase", day0, to); err != nil || len(got) != 0 {
		t.Fatalf("before the rebuild, Counts = %+v, %v; want nothing refreshed", got, err)
	}

	var out bytes.Buffer
	env := map[string]string{"FLAGSTREAM_CLICKHOUSE_DSN": dsn}
	if err := run(ctx, []string{"rebuild", "--experiment", "exp_a", "--chunk", "15"}, envFunc(env), &out); err != nil {
		t.Fatal(err)
	}
	// 40 users in chunks of 15: three progress lines, then the summary.
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	want := []string{"exp_a: 15 of 40 users", "exp_a: 30 of 40 users", "exp_a: 40 of 40 users", "rebuilt 40 users of exp_a in "}
	if len(lines) != len(want) {
		t.Fatalf("output:\n%s\nwant %d lines", out.String(), len(want))
	}
	for i, w := range want {
		if !strings.HasPrefix(lines[i], w) {
			t.Errorf("line %d = %q, want %q...", i+1, lines[i], w)
		}
	}
	for _, metric := range []string{"purchase", "signup"} {
		got, err := store.Counts(ctx, "exp_a", metric, day0, to)
		if err != nil {
			t.Fatal(err)
		}
		if w := chstoretest.Expected(all, "exp_a", metric, day0, to); !sameCounts(got, w) {
			t.Errorf("after the rebuild, %s:\n got %+v\nwant %+v", metric, got, w)
		}
	}
	// Only the experiment asked for.
	if got, err := store.Counts(ctx, "exp_b", "purchase", day0, to); err != nil || len(got) != 0 {
		t.Errorf("exp_b, not rebuilt: Counts = %+v, %v; want nothing", got, err)
	}

	out.Reset()
	err = run(ctx, []string{"rebuild", "--experiment", "no_such_experiment"}, envFunc(env), &out)
	if err == nil || !strings.Contains(err.Error(), "not found") || strings.Contains(out.String(), "rebuilt") {
		t.Errorf("rebuild of an unknown experiment = %v, printed %q; want not found", err, out.String())
	}
}

func TestRebuildCommandErrors(t *testing.T) {
	env := map[string]string{"FLAGSTREAM_CLICKHOUSE_DSN": "clickhouse://127.0.0.1:1/default"}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"rebuild"}, "usage: aggregate rebuild --experiment"},
		{[]string{"rebuild", "exp"}, "usage: aggregate rebuild --experiment"},
		{[]string{"rebuild", "--experiment", "exp", "extra"}, "usage: aggregate rebuild --experiment"},
		{[]string{"rebuild", "--experiment", "bad key!"}, "experiment"},
		{[]string{"rebuild", "--experiment", "exp", "--chunk", "0"}, "chunk"},
		{[]string{"rebuild", "--experiment", "exp", "--bogus"}, "bogus"},
	} {
		var out bytes.Buffer
		if err := run(context.Background(), tc.args, envFunc(env), &out); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("aggregate %v = %v, want an error naming %q", tc.args, err, tc.want)
		}
	}
	// ClickHouse unreachable: the error names it, without a password.
	env["FLAGSTREAM_CLICKHOUSE_DSN"] = "clickhouse://u:s3cret@127.0.0.1:1/default"
	err := run(context.Background(), []string{"rebuild", "--experiment", "exp"}, envFunc(env), &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "clickhouse") || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("rebuild with ClickHouse away: %v", err)
	}
}

// sameCounts: the counts equal, the sums equal up to float rounding (the
// model adds in another order than ClickHouse).
func sameCounts(got, want []chstore.VariantCounts) bool {
	near := func(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b)) }
	if len(got) != len(want) {
		return false
	}
	for i, g := range got {
		w := want[i]
		if g.Variant != w.Variant || g.Users != w.Users || g.Multiple != w.Multiple || g.Converters != w.Converters ||
			g.Conversions != w.Conversions || !near(g.ValueSum, w.ValueSum) || !near(g.ValueSumSq, w.ValueSumSq) {
			return false
		}
	}
	return true
}
