package chstore_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/flagstream/flagstream/internal/chstore"
	"github.com/flagstream/flagstream/internal/chstore/chstoretest"
	"github.com/flagstream/flagstream/pkg/events"
)

// exposedUsers is the model's answer to how many users Rebuild refreshes.
func exposedUsers(all []events.Event, experiment string) int {
	users := map[string]bool{}
	for _, e := range all {
		if e.Type == events.TypeExposure && e.Experiment == experiment {
			users[e.UserID] = true
		}
	}
	return len(users)
}

// checkAllCounts compares every report the workload's tests look at with the
// model.
func checkAllCounts(t *testing.T, s *chstore.Store, all []events.Event) {
	t.Helper()
	for _, exp := range []string{"exp_a", "exp_b"} {
		for _, metric := range []string{"purchase", "signup"} {
			checkCounts(t, s, all, exp, metric, day0, day0.AddDate(0, 0, 7))
			checkCounts(t, s, all, exp, metric, day0.AddDate(0, 0, 1), day0.AddDate(0, 0, 3))
		}
	}
}

// rebuild runs Rebuild on experiment in chunks of chunk (< 1: the default)
// and checks that it reports its progress chunk by chunk and refreshes every
// exposed user once.
func rebuild(t *testing.T, s *chstore.Store, all []events.Event, experiment string, chunk int) {
	t.Helper()
	var calls, last, total int
	n, err := s.Rebuild(context.Background(), experiment, chunk, func(done, of int) {
		calls++
		if done <= last || done > of || (total != 0 && of != total) {
			t.Errorf("progress %d of %d after %d of %d", done, of, last, total)
		}
		last, total = done, of
	})
	if err != nil {
		t.Fatal(err)
	}
	want := exposedUsers(all, experiment)
	if chunk < 1 {
		chunk = chstore.DefaultRebuildChunk
	}
	if n != want || last != want || total != want || calls != (want+chunk-1)/chunk {
		t.Errorf("Rebuild(%s) = %d pairs, progress %d of %d in %d calls; want %d users in chunks of %d", experiment, n, last, total, calls, want, chunk)
	}
}

// Events inserted with only some of their refreshes done (an incident),
// and more arriving and refreshed while it runs: Rebuild leaves every report
// exactly the model's, and running it again changes nothing.
func TestRebuildRecomputesFromRawEvents(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(17, 1))
	all := chstoretest.Workload(rng, 300, day0, "rb-")
	shuffled := append([]events.Event(nil), all...)
	rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	batches := split(rng, shuffled, 100)
	half := len(batches) / 2

	// The first half inserted, a third of it refreshed: the state is behind.
	for i, b := range batches[:half] {
		if err := s.Insert(ctx, b, time.Now()); err != nil {
			t.Fatal(err)
		}
		if i%3 == 0 {
			var touched chstore.Touched
			for j := range b {
				touched.Add(&b[j])
			}
			if _, err := s.Refresh(ctx, &touched); err != nil {
				t.Fatal(err)
			}
		}
	}
	before, err := s.Counts(ctx, "exp_a", "purchase", day0, day0.AddDate(0, 0, 7))
	if err != nil {
		t.Fatal(err)
	}
	if equalCounts(before, chstoretest.Expected(shuffled[:countEvents(batches[:half])], "exp_a", "purchase", day0, day0.AddDate(0, 0, 7))) {
		t.Fatal("the state is already complete before the rebuild: the test proves nothing")
	}

	// The second half goes through the consumer's path while exp_a is
	// rebuilt: each refresh of a pair, whichever runs last, is complete.
	rebuilt := make(chan error, 1)
	go func() {
		_, err := s.Rebuild(ctx, "exp_a", 50, nil)
		rebuilt <- err
	}()
	load(t, s, batches[half:], 2)
	if err := <-rebuilt; err != nil {
		t.Fatal(err)
	}
	// exp_b's refreshes were skipped for good: only its rebuild brings it
	// back. exp_a again, now that everything is in: every user refreshed.
	rebuild(t, s, all, "exp_b", 23)
	rebuild(t, s, all, "exp_a", 64)
	checkAllCounts(t, s, all)

	// Idempotent: again, with another chunk size, the same reports.
	rebuild(t, s, all, "exp_a", 1000)
	rebuild(t, s, all, "exp_b", 0) // the default chunk
	checkAllCounts(t, s, all)
}

func countEvents(batches [][]events.Event) int {
	n := 0
	for _, b := range batches {
		n += len(b)
	}
	return n
}

// The state thrown away entirely (both tables truncated) comes back exactly
// from a rebuild of each experiment.
func TestRebuildRestoresTruncatedState(t *testing.T) {
	s, conn := newStoreConn(t)
	ctx := context.Background()
	all := chstoretest.Workload(rand.New(rand.NewPCG(17, 2)), 150, day0, "rt-")
	load(t, s, [][]events.Event{all}, 1)
	checkAllCounts(t, s, all)
	for _, table := range []string{"user_state", "user_metric"} {
		if err := conn.Exec(ctx, "TRUNCATE TABLE "+table); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := s.Counts(ctx, "exp_a", "purchase", day0, day0.AddDate(0, 0, 7)); err != nil || len(got) != 0 {
		t.Fatalf("after truncating, Counts = %+v, %v; want nothing", got, err)
	}
	rebuild(t, s, all, "exp_a", 40)
	rebuild(t, s, all, "exp_b", 40)
	checkAllCounts(t, s, all)
}

// A state row computed under another definition from the same events (same
// version) is replaced by the rebuild's: on equal versions the row inserted
// last wins, which is what makes a rebuild apply a changed definition.
func TestRebuildReplacesSameVersionRow(t *testing.T) {
	s, conn := newStoreConn(t)
	ctx := context.Background()
	all := chstoretest.Workload(rand.New(rand.NewPCG(17, 3)), 60, day0, "rv-")
	load(t, s, [][]events.Event{all}, 1)
	// Every exp_a user's row rewritten with the other variant, at the same
	// version: what an older definition could have left.
	if err := conn.Exec(ctx, `
		INSERT INTO state_refresh (experiment, user_id, variant, first_ms, first_day, last_day, switched, switch_day,
		                           exposures, conv_type, conv_day, conv_count, conv_sum, version, updated_at)
		SELECT experiment, user_id, if(variant = 'control', 'treatment', 'control'), first_ms, first_day, last_day,
		       switched, switch_day, exposures, [], [], [], [], version, updated_at
		FROM user_state FINAL WHERE experiment = 'exp_a'`); err != nil {
		t.Fatal(err)
	}
	to := day0.AddDate(0, 0, 7)
	got, err := s.Counts(ctx, "exp_a", "purchase", day0, to)
	if err != nil {
		t.Fatal(err)
	}
	if equalCounts(got, chstoretest.Expected(all, "exp_a", "purchase", day0, to)) {
		t.Fatal("the rewritten rows did not change the report: the test proves nothing")
	}
	rebuild(t, s, all, "exp_a", 25)
	checkAllCounts(t, s, all)
}

func TestRebuildUnknownExperiment(t *testing.T) {
	s := newStore(t)
	n, err := s.Rebuild(context.Background(), "no_such_experiment", 10, func(int, int) { t.Error("progress called") })
	if n != 0 || !errors.Is(err, chstore.ErrNotFound) {
		t.Errorf("Rebuild(unknown) = %d, %v; want ErrNotFound", n, err)
	}
}
