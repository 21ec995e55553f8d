-- The flag's variant weights as its exposures carried them (the optional
-- event field weights, which flagd sends), one row per (experiment, flag
-- version, weights). A report's sample-ratio check uses the latest unless the
-- request names weights. weights is the JSON object, keys sorted.
CREATE TABLE IF NOT EXISTS experiment_weights (
    experiment   String,
    flag_version Int64,
    weights      String,
    last_seen    DateTime
) ENGINE = ReplacingMergeTree(last_seen)
ORDER BY (experiment, flag_version, weights);
