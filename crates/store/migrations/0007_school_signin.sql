-- School sign-in (OpenID Connect): an account at the school's provider, named by its issuer
-- and subject, linked to a student. Deleted when the student is removed.
CREATE TABLE student_identities (
    issuer     TEXT NOT NULL,
    subject    TEXT NOT NULL,
    student_id TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (issuer, subject)
);
CREATE INDEX student_identities_student ON student_identities (student_id);

-- School sign-ins under way, shared by every node: a login sent to the provider (`kind`
-- 'login', keyed by its state) or a finished one waiting for the page to fetch its session
-- (`kind` 'handoff', keyed by a one-time code). Each is taken once, before `expires_at`
-- (microseconds); expired ones are deleted as new ones come.
CREATE TABLE signins_pending (
    id         TEXT PRIMARY KEY,
    kind       TEXT NOT NULL,
    payload    TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX signins_pending_expiry ON signins_pending (expires_at);
