package chstore

import (
	"context"
	"fmt"
	"time"

	"github.com/flagstream/flagstream/pkg/events"
)

// experimentEventsSQL reads an experiment's distinct events (by experiment,
// user and id, as every query here deduplicates) and the distinct
// conversions that name no experiment of the users exposed to it, in time
// order, exposures first at equal times.
const experimentEventsSQL = `
SELECT id, e_type, e_variant, user_id, e_conversion_type, e_value, e_ts
FROM (
    SELECT user_id, id, any(type) AS e_type, any(variant) AS e_variant, any(conversion_type) AS e_conversion_type,
           any(value) AS e_value, any(ts_ms) AS e_ts
    FROM events
    WHERE experiment = ?
    GROUP BY user_id, id
    UNION ALL
    SELECT user_id, id, any(type) AS e_type, any(variant) AS e_variant, any(conversion_type) AS e_conversion_type,
           any(value) AS e_value, any(ts_ms) AS e_ts
    FROM events
    WHERE experiment = '' AND type = 'conversion'
      AND user_id IN (SELECT user_id FROM user_experiments WHERE experiment = ?)
    GROUP BY user_id, id
)
ORDER BY e_ts, e_type, user_id, id`

// ExperimentEvents calls fn with an experiment's events as the report counts
// them (see experimentEventsSQL), in batches of up to n, every conversion
// attributed to the experiment by name: what rebuilds its live counters.
func (s *Store) ExperimentEvents(ctx context.Context, experiment string, n int, fn func([]events.Event) error) error {
	rows, err := s.conn.Query(ctx, experimentEventsSQL, experiment, experiment)
	if err != nil {
		return fmt.Errorf("read the events of %q: %w", experiment, err)
	}
	defer rows.Close()
	batch := make([]events.Event, 0, n)
	for rows.Next() {
		var (
			e     events.Event
			typ   string
			value float64
			ms    int64
		)
		if err := rows.Scan(&e.ID, &typ, &e.Variant, &e.UserID, &e.ConversionType, &value, &ms); err != nil {
			return fmt.Errorf("read the events of %q: %w", experiment, err)
		}
		e.Type, e.Experiment, e.TS = events.Type(typ), experiment, time.UnixMilli(ms).UTC()
		if e.Type == events.TypeConversion {
			e.Variant, e.Value = "", &value
		}
		batch = append(batch, e)
		if len(batch) == n {
			if err := fn(batch); err != nil {
				return err
			}
			batch = batch[:0]
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read the events of %q: %w", experiment, err)
	}
	if len(batch) > 0 {
		return fn(batch)
	}
	return nil
}
