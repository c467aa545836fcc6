-- Classes: a teacher's (a key's) class, its students, assignments and every graded submission.
-- Times are BIGINT microseconds since the epoch, as in every table; ids are random hex.
-- `owner` is the name of the key that made the class (key names are never reused).
-- `join_code`: what students type to join (8 of 23456789ABCDEFGHJKLMNPQRSTUVWXYZ).
CREATE TABLE classes (
    id         TEXT PRIMARY KEY,
    owner      TEXT NOT NULL,
    name       TEXT NOT NULL,
    join_code  TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL
);
CREATE INDEX classes_owner ON classes (owner, created_at);

-- A student: a display name in one class and a personal login code (10 of the same letters,
-- shown to the teacher). A removed student keeps its row (`removed_at`) so its submissions
-- stay attributable; its login code stops working.
CREATE TABLE students (
    id           TEXT PRIMARY KEY,
    class_id     TEXT NOT NULL,
    display_name TEXT NOT NULL,
    login_code   TEXT NOT NULL UNIQUE,
    joined_at    BIGINT NOT NULL,
    removed_at   BIGINT
);
CREATE INDEX students_class ON students (class_id, joined_at);

-- Exercises grouped, in order (`exercises`: a JSON array of exercise ids), shown to students
-- from `publish_at` (NULL: at once); submissions after `deadline` (NULL: none) are `late`.
CREATE TABLE assignments (
    id         TEXT PRIMARY KEY,
    class_id   TEXT NOT NULL,
    title      TEXT NOT NULL,
    position   BIGINT NOT NULL,
    exercises  TEXT NOT NULL,
    publish_at BIGINT,
    deadline   BIGINT,
    created_at BIGINT NOT NULL
);
CREATE INDEX assignments_class ON assignments (class_id, position);

-- Every graded submission of a signed-in student, never refused for lateness nor deleted.
-- `verdicts`: JSON the server wrote (one entry per test); the score is `points / max_points`
-- (an LTI score is this fraction with its maximum); `late` is 0 or 1.
CREATE TABLE class_submissions (
    id            TEXT PRIMARY KEY,
    class_id      TEXT NOT NULL,
    student_id    TEXT NOT NULL,
    exercise_id   TEXT NOT NULL,
    assignment_id TEXT,
    at            BIGINT NOT NULL,
    language      TEXT NOT NULL,
    code          TEXT NOT NULL,
    verdicts      TEXT NOT NULL,
    passed        BIGINT NOT NULL,
    total         BIGINT NOT NULL,
    points        BIGINT NOT NULL,
    max_points    BIGINT NOT NULL,
    late          BIGINT NOT NULL
);
CREATE INDEX class_submissions_student ON class_submissions (student_id, exercise_id, at);
CREATE INDEX class_submissions_class ON class_submissions (class_id, exercise_id, at);
