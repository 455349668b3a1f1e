-- The notification outbox: one row per delivery (rule, channel, recipient), written in the
-- transaction of the robot event that fired it, before any send. Portable to SQLite and
-- PostgreSQL: JSON is TEXT, times are epoch seconds. Numbered 0006: 0005 is another
-- feature's (routing explanations).

-- id: the delivery id every send carries (webhook-id, Message-ID).
-- dedup_key: rule, robot and recipient; a firing repeated after a crash inserts nothing.
-- attempts: JSON list of {at, outcome, status, error}; attempt_count is its length, and
-- each recorded attempt is conditional on it, so two writers never record one twice.
CREATE TABLE notifications (
    id TEXT PRIMARY KEY,
    dedup_key TEXT NOT NULL UNIQUE,
    rule_id TEXT,
    robot_id TEXT,
    channel TEXT NOT NULL,
    recipient TEXT NOT NULL,
    locale TEXT NOT NULL,
    subject TEXT NOT NULL,
    body_text TEXT NOT NULL,
    body_html TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts TEXT NOT NULL,
    attempt_count INTEGER NOT NULL,
    next_attempt_at DOUBLE PRECISION NOT NULL,
    created_at DOUBLE PRECISION NOT NULL,
    updated_at DOUBLE PRECISION NOT NULL
);

CREATE INDEX notifications_due ON notifications (state, next_attempt_at);
CREATE INDEX notifications_state_id ON notifications (state, id DESC);

-- Webhook endpoints disabled by a 410 answer (until an operator enables them again).
CREATE TABLE notify_endpoints (
    name TEXT PRIMARY KEY,
    disabled_at DOUBLE PRECISION NOT NULL,
    reason TEXT NOT NULL
);
