-- Metering. `usage_daily`: what ran, per UTC day (`YYYY-MM-DD`, which sorts as text), per key
-- (its name; '' for requests made without a key: key names are never empty) and per runtime.
-- Every node ADDS its batches to the day's row (INSERT ... ON CONFLICT DO UPDATE SET n = n +
-- excluded.n), so the nodes sharing a database add up. `errors`: requests refused or failed by
-- tiderun (no outcome); `limits_hit`: runs that ended on a limit (time, wall time, memory,
-- output, file size); `mb_ms`: each stage's memory limit (MiB) x its wall time (ms).
CREATE TABLE usage_daily (
    day        TEXT NOT NULL,
    key_name   TEXT NOT NULL,
    runtime    TEXT NOT NULL,
    runs       BIGINT NOT NULL,
    errors     BIGINT NOT NULL,
    limits_hit BIGINT NOT NULL,
    cpu_ms     BIGINT NOT NULL,
    wall_ms    BIGINT NOT NULL,
    mb_ms      BIGINT NOT NULL,
    PRIMARY KEY (day, key_name, runtime)
);
CREATE INDEX usage_daily_key_day ON usage_daily (key_name, day);

-- The recent runs, newest first by id (a UUID v7: ids sort by the time the run started), pruned
-- to a bounded count and age. Never a program's code, input or output.
CREATE TABLE runs (
    id              TEXT PRIMARY KEY,
    at              BIGINT NOT NULL,
    node            TEXT NOT NULL,
    key_name        TEXT,
    api             TEXT NOT NULL,
    runtime         TEXT NOT NULL,
    status          TEXT NOT NULL,
    cpu_ms          BIGINT NOT NULL,
    wall_ms         BIGINT NOT NULL,
    memory_kb       BIGINT NOT NULL,
    memory_limit_mb BIGINT NOT NULL,
    start           TEXT NOT NULL
);
CREATE INDEX runs_at ON runs (at);
