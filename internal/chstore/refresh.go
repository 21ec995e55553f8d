package chstore

// refreshSQL recomputes the state of the (experiment, user) pairs in the
// external table dirty(experiment, user_id), from one read of their raw
// events:
//
//  1. the pairs' events, deduplicated by id: those naming the experiment,
//     and the user's conversions naming none, joined to each of the user's
//     dirty pairs;
//  2. per pair, the events as arrays (pairs without an exposure drop out:
//     a user never exposed counts nowhere); version = distinct events;
//  3. the first exposure and its variant, the first exposure to any other
//     variant, and the conversions at or after the first exposure;
//  4. those conversions summed per (conversion type, day).
//
// The rows go to state_refresh, whose materialized views write user_state
// and user_metric.
const refreshSQL = `
INSERT INTO state_refresh (experiment, user_id, variant, first_ms, first_day, last_day, switched, switch_day,
                           exposures, conv_type, conv_day, conv_count, conv_sum, version, updated_at)
SELECT experiment, user_id,
       any(variant), any(first_ms), any(first_day), any(last_day), any(switched), any(switch_day), any(exposures),
       groupArrayIf(ctype, n > 0), groupArrayIf(cday, n > 0), groupArrayIf(n, n > 0), groupArrayIf(s, n > 0),
       any(version), now()
FROM (
    SELECT experiment, user_id, variant, first_ms, first_day, last_day, switched, switch_day, exposures, version,
           ctype, cday, toUInt32(countIf(ctype != '')) AS n, sumIf(cval, ctype != '') AS s
    FROM (
        SELECT experiment, user_id, version,
               arrayReduce('min', et) AS first_ms,
               ev[indexOf(et, first_ms)] AS variant,
               arrayReduce('min', ed) AS first_day,
               arrayFilter((d, x) -> x != variant, ed, ev) AS other_days,
               toUInt8(length(other_days) > 0) AS switched,
               if(switched = 1, arrayReduce('min', other_days), toDate('1970-01-01')) AS switch_day,
               toUInt32(length(et)) AS exposures,
               arrayFilter((x, t) -> t >= first_ms, ct, cts) AS fct,
               arrayFilter((x, t) -> t >= first_ms, cd, cts) AS fcd,
               arrayFilter((x, t) -> t >= first_ms, cv, cts) AS fcv,
               arrayReduce('max', arrayConcat(ed, fcd)) AS last_day
        FROM (
            SELECT experiment, user_id,
                   groupArrayIf(e_variant, e_type = 'exposure') AS ev,
                   groupArrayIf(e_ts, e_type = 'exposure') AS et,
                   groupArrayIf(e_day, e_type = 'exposure') AS ed,
                   groupArrayIf(e_conversion_type, e_type = 'conversion') AS ct,
                   groupArrayIf(e_ts, e_type = 'conversion') AS cts,
                   groupArrayIf(e_day, e_type = 'conversion') AS cd,
                   groupArrayIf(e_value, e_type = 'conversion') AS cv,
                   count() AS version
            FROM (
                SELECT experiment, user_id, id, any(type) AS e_type, any(variant) AS e_variant,
                       any(conversion_type) AS e_conversion_type, any(ts_ms) AS e_ts, any(day) AS e_day,
                       any(value) AS e_value
                FROM events
                WHERE experiment IN (SELECT experiment FROM dirty)
                  AND (experiment, user_id) IN (SELECT experiment, user_id FROM dirty)
                GROUP BY experiment, user_id, id
                UNION ALL
                SELECT experiment, user_id, id, e_type, e_variant, e_conversion_type, e_ts, e_day, e_value
                FROM (
                    SELECT user_id, id, any(type) AS e_type, any(variant) AS e_variant,
                           any(conversion_type) AS e_conversion_type, any(ts_ms) AS e_ts, any(day) AS e_day,
                           any(value) AS e_value
                    FROM events
                    WHERE experiment = '' AND user_id IN (SELECT user_id FROM dirty)
                    GROUP BY user_id, id
                ) ALL INNER JOIN (SELECT DISTINCT experiment, user_id FROM dirty) USING (user_id)
            )
            GROUP BY experiment, user_id
            HAVING length(et) > 0
        )
    )
    LEFT ARRAY JOIN fct AS ctype, fcd AS cday, fcv AS cval
    GROUP BY experiment, user_id, variant, first_ms, first_day, last_day, switched, switch_day, exposures, version,
             ctype, cday
)
GROUP BY experiment, user_id`
