-- Rules (on an event, do an action), schedule slots and chains.
-- Portable to SQLite and PostgreSQL: JSON is TEXT, times are epoch seconds.
-- Numbered 0004 so it never collides with the mail cursor migration (0003).

-- What made a robot: the robot it was chained from and the rule that submitted it.
-- children: JSON list of the robots its terminal transition submitted (same transaction).
ALTER TABLE robots ADD COLUMN parent_id TEXT;
ALTER TABLE robots ADD COLUMN rule_id TEXT;
ALTER TABLE robots ADD COLUMN children TEXT;
CREATE INDEX robots_parent_id ON robots (parent_id) WHERE parent_id IS NOT NULL;

-- One row per rule. A schedule's slot cursor lives here too: every slot at or before
-- decided_until is decided (fired or skipped); version is bumped by each decision, which
-- is conditional on it, so one decision per slot even with two writers.
CREATE TABLE rules (
    id TEXT PRIMARY KEY,
    spec TEXT NOT NULL,
    origin TEXT NOT NULL,
    created_at DOUBLE PRECISION NOT NULL,
    paused INTEGER NOT NULL,
    decided_until DOUBLE PRECISION,
    buffered_slot DOUBLE PRECISION,
    version INTEGER NOT NULL,
    fired INTEGER NOT NULL,
    skipped TEXT NOT NULL
);

-- Every firing of a rule (fired, skipped with a reason, or failed), newest by id.
CREATE TABLE rule_firings (
    id TEXT PRIMARY KEY,
    rule_id TEXT NOT NULL,
    at DOUBLE PRECISION NOT NULL,
    source TEXT NOT NULL,
    outcome TEXT NOT NULL,
    robot_id TEXT,
    detail TEXT
);

CREATE INDEX rule_firings_rule_id ON rule_firings (rule_id, id DESC);
