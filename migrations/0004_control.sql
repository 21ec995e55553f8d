-- The flag's control (its first variant) as its exposures carried it (the
-- optional event field control, which flagd sends), one row per (experiment,
-- flag version, control). A report compares against the latest flag
-- version's control unless the request names one. A table of its own rather
-- than a column of experiment_weights: the control is in the sorting key (a
-- version's rows merge only when they agree), and it arrives on exposures
-- that carry no weights too. Exposures stored before this table existed
-- carry none: their reports fall back to a named rule, with a warning.
CREATE TABLE IF NOT EXISTS experiment_control (
    experiment   String,
    flag_version Int64,
    control      String,
    last_seen    DateTime
) ENGINE = ReplacingMergeTree(last_seen)
ORDER BY (experiment, flag_version, control);
