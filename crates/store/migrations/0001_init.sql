-- One schema for SQLite and Postgres: only types and statements both accept.
-- Times are BIGINT microseconds since the Unix epoch (UTC): they sort as numbers on both
-- backends, whatever the database's collation.

-- Async submissions. `request` and `result` are JSON text the store never looks into;
-- `status` is 1 queued, 2 processing, 3 and above finished (the API layer names them).
CREATE TABLE submissions (
    token       TEXT PRIMARY KEY,
    request     TEXT NOT NULL,
    status      INTEGER NOT NULL,
    result      TEXT,
    owner       TEXT,
    created_at  BIGINT NOT NULL,
    finished_at BIGINT
);

-- Listing newest first; finding unfinished work oldest first.
CREATE INDEX submissions_created_at ON submissions (created_at);
CREATE INDEX submissions_status_created_at ON submissions (status, created_at);

-- Shared programs ("share a link").
CREATE TABLE snippets (
    id         TEXT PRIMARY KEY,
    language   TEXT NOT NULL,
    code       TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
