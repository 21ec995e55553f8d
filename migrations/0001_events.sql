-- Raw events: one row per delivery. A redelivered or resent event gives a
-- second row with the same id; merges collapse them (ReplacingMergeTree on the
-- sorting key), and every query that reads this table deduplicates by id
-- itself, so results are exact before any merge has happened.
--
-- experiment is '' for a conversion that names none: it is attributed, by
-- user, to every experiment the user was exposed to (see 0002).
-- ts_ms is the event time in Unix milliseconds (18.16 has no DateTime64);
-- day its UTC calendar day, computed by the writer so that no server time
-- zone is ever involved.
-- The small index granularity serves the refresh, which reads the events of
-- a batch's (experiment, user) pairs: users are scattered over the table, and
-- the fewer rows a granule holds, the fewer rows it reads besides theirs.
CREATE TABLE IF NOT EXISTS events (
    id              String,
    type            Enum8('exposure' = 1, 'conversion' = 2),
    experiment      String,
    variant         String,
    user_id         String,
    conversion_type String,
    value           Float64,
    ts_ms           Int64,
    day             Date,
    flag_version    Int64,
    inserted_at     DateTime
) ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(day)
ORDER BY (experiment, user_id, id)
SETTINGS index_granularity = 256;

-- Which experiments each user was exposed to, to attribute conversions that
-- name no experiment: written by the view below within every insert into
-- events, so before that batch's refresh (see internal/chstore).
CREATE TABLE IF NOT EXISTS user_experiments (
    user_id    String,
    experiment String
) ENGINE = ReplacingMergeTree()
ORDER BY (user_id, experiment)
SETTINGS index_granularity = 1024;

CREATE MATERIALIZED VIEW IF NOT EXISTS user_experiments_mv TO user_experiments AS
SELECT DISTINCT user_id, experiment
FROM events
WHERE type = 'exposure';
