package chstore

import (
	"context"
	"fmt"
)

// DefaultRebuildChunk is the pairs Rebuild refreshes per statement when
// given no chunk: large enough that a million users take a hundred
// statements, small enough that one statement's external table and arrays
// stay a few megabytes.
const DefaultRebuildChunk = 10_000

// Rebuild recomputes the state of every user exposed to experiment from the
// raw events, through Refresh, chunk pairs at a time (chunk < 1: the
// default), calling progress (if not nil) after each chunk with the users
// done and the users listed. It returns the pairs refreshed, or ErrNotFound
// when the experiment has no exposures.
//
// It is what a changed definition of the state or a repaired incident
// needs, and it is safe to run at any time, again, and while the consumer
// refreshes the same pairs: every refresh is a complete recomputation whose
// version (distinct events) never decreases, so whichever row wins is one
// computed from all the events its refresh saw. A user whose first exposure
// arrives after the listing is the consumer's to refresh, as always.
// Conversions naming no experiment need no listing of their own: the
// refresh joins a user's such conversions to each of the user's pairs.
//
// The users are listed in one query, held in memory (a million users of 20
// bytes are some tens of megabytes): one read of the experiment's exposures
// instead of one per page.
func (s *Store) Rebuild(ctx context.Context, experiment string, chunk int, progress func(done, total int)) (int, error) {
	if chunk < 1 {
		chunk = DefaultRebuildChunk
	}
	users, err := s.exposedUsers(ctx, experiment)
	if err != nil {
		return 0, err
	}
	if len(users) == 0 {
		return 0, fmt.Errorf("%w: no exposures recorded for %q", ErrNotFound, experiment)
	}
	refreshed := 0
	for start := 0; start < len(users); start += chunk {
		end := min(start+chunk, len(users))
		var t Touched
		t.pairs = make(map[Pair]struct{}, end-start)
		for _, u := range users[start:end] {
			t.pairs[Pair{experiment, u}] = struct{}{}
		}
		n, err := s.Refresh(ctx, &t)
		if err != nil {
			return refreshed, fmt.Errorf("rebuild %s, users %d to %d of %d: %w", experiment, start+1, end, len(users), err)
		}
		refreshed += n
		if progress != nil {
			progress(end, len(users))
		}
	}
	return refreshed, nil
}

// exposedUsers lists the users with an exposure to experiment in the raw
// events, in order (the table is ordered by experiment then user, so this
// reads the experiment's range only).
func (s *Store) exposedUsers(ctx context.Context, experiment string) ([]string, error) {
	rows, err := s.conn.Query(ctx,
		"SELECT DISTINCT user_id FROM events WHERE experiment = ? AND type = 'exposure' ORDER BY user_id", experiment)
	if err != nil {
		return nil, fmt.Errorf("list users of %s: %w", experiment, err)
	}
	defer rows.Close()
	var users []string
	for rows.Next() {
		var u string
		if err := rows.Scan(&u); err != nil {
			return nil, fmt.Errorf("list users of %s: %w", experiment, err)
		}
		users = append(users, u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list users of %s: %w", experiment, err)
	}
	return users, nil
}
