-- API keys (only the SHA-256 of each key is stored) and the audit log.
-- Portable to SQLite and PostgreSQL: lists are JSON TEXT, times are epoch seconds.

CREATE TABLE api_keys (
    id TEXT PRIMARY KEY,
    key_hash TEXT NOT NULL,
    role TEXT NOT NULL,
    modules TEXT,
    name TEXT,
    created_at DOUBLE PRECISION NOT NULL,
    expires_at DOUBLE PRECISION,
    revoked_at DOUBLE PRECISION,
    rotated_from TEXT,
    overlap_until DOUBLE PRECISION
);

CREATE UNIQUE INDEX api_keys_key_hash ON api_keys (key_hash);

-- Ids sort by time, so (filter, id DESC) serves newest-first listings.
CREATE TABLE audit_log (
    id TEXT PRIMARY KEY,
    at DOUBLE PRECISION NOT NULL,
    request_id TEXT NOT NULL,
    actor TEXT NOT NULL,
    client TEXT,
    action TEXT NOT NULL,
    target TEXT,
    outcome TEXT NOT NULL,
    status INTEGER NOT NULL,
    detail TEXT
);

CREATE INDEX audit_log_actor_id ON audit_log (actor, id DESC);
