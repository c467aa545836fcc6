-- Exercises a teacher posted through the API (those in the exercises directory are files,
-- not rows). `definition` is the exercise as JSON text and `summary` a small JSON text for
-- listings; the store never looks into either.
CREATE TABLE exercises (
    id         TEXT PRIMARY KEY,
    definition TEXT NOT NULL,
    summary    TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
