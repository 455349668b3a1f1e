-- The email monitor: mailboxes added at run time, a cursor per mailbox, processed mail.
-- Portable to SQLite and PostgreSQL: lists are JSON TEXT, times are epoch seconds.

CREATE TABLE mailboxes (
    name TEXT PRIMARY KEY,
    spec TEXT NOT NULL,
    paused INTEGER NOT NULL DEFAULT 0,
    removed INTEGER NOT NULL DEFAULT 0,
    updated_at DOUBLE PRECISION NOT NULL
);

-- What the monitor has processed of a mailbox: every UID up to last_uid of uidvalidity.
CREATE TABLE mail_cursors (
    mailbox TEXT PRIMARY KEY,
    uidvalidity BIGINT NOT NULL,
    last_uid BIGINT NOT NULL,
    updated_at DOUBLE PRECISION NOT NULL
);

-- One row per mail (mailbox, uidvalidity, uid); ids sort by time for keyset pages.
CREATE TABLE mail_records (
    id TEXT PRIMARY KEY,
    mail_key TEXT NOT NULL,
    mailbox TEXT NOT NULL,
    uidvalidity BIGINT NOT NULL,
    uid BIGINT NOT NULL,
    at DOUBLE PRECISION NOT NULL,
    message_id TEXT,
    sender TEXT,
    subject TEXT,
    body TEXT,
    mail_class TEXT,
    confidence DOUBLE PRECISION,
    decided_by TEXT,
    pii_kinds TEXT NOT NULL,
    robots TEXT NOT NULL,
    errors TEXT NOT NULL,
    raw_document TEXT,
    attachments TEXT NOT NULL,
    label TEXT
);

CREATE UNIQUE INDEX mail_records_mail_key ON mail_records (mail_key);
CREATE INDEX mail_records_mailbox_id ON mail_records (mailbox, id DESC);
