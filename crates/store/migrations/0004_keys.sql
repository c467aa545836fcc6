-- API keys. The secret is never stored: `hash` is the hex SHA-256 of the whole key
-- (`tr_<prefix>_<secret>`), `prefix` its first, non-secret part, shown in listings so an
-- operator can tell keys apart. A key is never deleted, only revoked (`revoked_at`): names are
-- unique for ever, so usage and run logs that name a key stay unambiguous.
-- `role` is admin, caller or classroom; the quotas are NULL for "no quota".
CREATE TABLE api_keys (
    name            TEXT PRIMARY KEY,
    prefix          TEXT NOT NULL,
    hash            TEXT NOT NULL UNIQUE,
    role            TEXT NOT NULL,
    runs_per_minute BIGINT,
    cpu_s_per_day   BIGINT,
    created_at      BIGINT NOT NULL,
    expires_at      BIGINT,
    revoked_at      BIGINT
);

-- Secrets every node of a deployment shares (the key that signs page sessions), made once
-- by whichever node asks first.
CREATE TABLE server_secrets (
    name       TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

-- A Judge0 client lists its own submissions (`owner` is the name of the key that made them).
CREATE INDEX submissions_owner_created_at ON submissions (owner, created_at);
