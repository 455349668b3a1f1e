-- Portable to SQLite and PostgreSQL: JSON is TEXT, times are epoch seconds.
-- The runner splits this file on ';', so no statement may contain one in a literal.

CREATE TABLE robots (
    id TEXT PRIMARY KEY,
    type TEXT NOT NULL,
    payload TEXT NOT NULL,
    priority INTEGER NOT NULL,
    deadline DOUBLE PRECISION,
    idempotency_key TEXT,
    max_attempts INTEGER NOT NULL,
    timeout_s DOUBLE PRECISION NOT NULL,
    status TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    module TEXT,
    replica TEXT,
    result TEXT,
    error TEXT,
    progress DOUBLE PRECISION NOT NULL,
    message TEXT,
    not_before DOUBLE PRECISION NOT NULL,
    created_at DOUBLE PRECISION NOT NULL,
    updated_at DOUBLE PRECISION NOT NULL,
    started_at DOUBLE PRECISION,
    finished_at DOUBLE PRECISION
);

-- Ids sort by creation time, so (filter, id DESC) serves newest-first listings;
-- the primary key serves the unfiltered one.
CREATE INDEX robots_status_id ON robots (status, id DESC);
CREATE INDEX robots_type_id ON robots (type, id DESC);
CREATE UNIQUE INDEX robots_idempotency_key ON robots (idempotency_key)
    WHERE idempotency_key IS NOT NULL;

CREATE TABLE attempts (
    robot_id TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    module TEXT,
    replica TEXT,
    status TEXT NOT NULL,
    error TEXT,
    started_at DOUBLE PRECISION,
    finished_at DOUBLE PRECISION,
    PRIMARY KEY (robot_id, attempt)
);

CREATE INDEX attempts_module_replica ON attempts (module, replica);

CREATE TABLE modules (
    name TEXT PRIMARY KEY,
    spec TEXT NOT NULL
);
