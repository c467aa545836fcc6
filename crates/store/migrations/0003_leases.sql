-- Many nodes on one database. A claimed submission (status 2) carries a lease: the node that
-- runs it (`lease_owner`, its node id) renews `lease_until` (BIGINT microseconds since the
-- epoch, the database's clock) while the run lasts. A row whose lease ran out belongs to a
-- node that stopped: it goes back to queued. `attempts` counts claims (runs started), so a
-- submission whose runs keep being cut short is given up after a bounded number, and it fences
-- a result: only the claim that is still current may store one.
ALTER TABLE submissions ADD COLUMN lease_owner TEXT;
ALTER TABLE submissions ADD COLUMN lease_until BIGINT;
ALTER TABLE submissions ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
