-- Per (experiment, user) state, recomputed from the raw events of every
-- (experiment, user) that received an event; what the reports read.
--
-- A refresh inserts its rows into state_refresh (engine Null: nothing is
-- stored there); two materialized views split each row into user_state (one
-- row per user) and user_metric (one row per user and conversion type), so
-- one INSERT ... SELECT writes both.
--
-- version is the number of distinct events the row was computed from. The
-- raw data only grows, so a later computation never has a smaller version:
-- ReplacingMergeTree(version) keeps the newest row, and the reports read
-- with FINAL, exact before merges.
CREATE TABLE IF NOT EXISTS state_refresh (
    experiment String,
    user_id    String,
    variant    String,
    first_ms   Int64,
    first_day  Date,
    last_day   Date,
    switched   UInt8,
    switch_day Date,
    exposures  UInt32,
    conv_type  Array(String),
    conv_day   Array(Date),
    conv_count Array(UInt32),
    conv_sum   Array(Float64),
    version    UInt64,
    updated_at DateTime
) ENGINE = Null;

-- variant: the variant of the first exposure (first_ms, first_day).
-- switched, switch_day: the user was also exposed to another variant, first
-- on switch_day; such a user is left out of every report whose range reaches
-- that day and counted in its multiple_exposures instead.
-- last_day: the last day with an exposure or a counted conversion.
CREATE TABLE IF NOT EXISTS user_state (
    experiment String,
    user_id    String,
    variant    String,
    first_ms   Int64,
    first_day  Date,
    last_day   Date,
    switched   UInt8,
    switch_day Date,
    exposures  UInt32,
    version    UInt64,
    updated_at DateTime
) ENGINE = ReplacingMergeTree(version)
ORDER BY (experiment, user_id);

-- One row per (experiment, conversion type, user) with at least one
-- conversion at or after the user's first exposure: per UTC day, the count
-- and the value sum of those conversions (parallel arrays). The user's
-- variant, first day and switch are repeated here so that a report reads
-- one table per question. A report over [from, to] sums each user's days up
-- to `to` first, then squares that total: value_sumsq is exact for any range.
-- total_count, total_sum and last_day summarise the arrays: a report whose
-- range ends on or after every last_day (the usual "until today") reads
-- them instead of the arrays, which FINAL would otherwise carry through its
-- merge.
CREATE TABLE IF NOT EXISTS user_metric (
    experiment      String,
    conversion_type String,
    user_id         String,
    variant         String,
    first_day       Date,
    switched        UInt8,
    switch_day      Date,
    days            Array(Date),
    counts          Array(UInt32),
    sums            Array(Float64),
    total_count     UInt64,
    total_sum       Float64,
    last_day        Date,
    version         UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY (experiment, conversion_type, user_id);

CREATE MATERIALIZED VIEW IF NOT EXISTS user_state_mv TO user_state AS
SELECT experiment, user_id, variant, first_ms, first_day, last_day, switched, switch_day, exposures,
       version, updated_at
FROM state_refresh;

CREATE MATERIALIZED VIEW IF NOT EXISTS user_metric_mv TO user_metric AS
SELECT experiment, conversion_type, user_id,
       any(variant) AS variant, any(first_day) AS first_day, any(switched) AS switched,
       any(switch_day) AS switch_day,
       groupArray(day) AS days, groupArray(n) AS counts, groupArray(s) AS sums,
       sum(n) AS total_count, sum(s) AS total_sum, max(day) AS last_day,
       any(version) AS version
FROM state_refresh
ARRAY JOIN conv_type AS conversion_type, conv_day AS day, conv_count AS n, conv_sum AS s
GROUP BY experiment, conversion_type, user_id;
