-- Several instances on one database (issue 13). SQLite runs one instance, but it keeps the
-- same tables as PostgreSQL so that one SQL text serves both (see migrations_pg/).

-- The running instances: a random id chosen at start, a name for people, and the lease the
-- instance renews with its heartbeat. A lease that runs out marks the instance dead, and a
-- survivor takes over its `publishing` targets.
CREATE TABLE instances (
    id           TEXT PRIMARY KEY NOT NULL,
    name         TEXT NOT NULL,
    started_at   INTEGER NOT NULL,
    heartbeat_at INTEGER NOT NULL,
    lease_until  INTEGER NOT NULL
) STRICT;

-- The instance that claimed a target for publishing; its outcome writes are checked against
-- it, so an instance that lost its lease cannot overwrite what a survivor decided.
ALTER TABLE targets ADD COLUMN owner TEXT;

-- When an account's rate-limit window at a provider reopens, shared by every instance.
CREATE TABLE rate_windows (
    provider          TEXT NOT NULL,
    account_remote_id TEXT NOT NULL,
    reset_at          INTEGER NOT NULL,
    PRIMARY KEY (provider, account_remote_id)
) STRICT;

-- Jobs that run on one instance at a time (the Telegram poller, the purge, ...): who holds
-- each and until when; an expired hold may be taken by another instance.
CREATE TABLE roles (
    name   TEXT PRIMARY KEY NOT NULL,
    holder TEXT,
    until  INTEGER NOT NULL
) STRICT;

-- Image bytes kept in the database, where every instance can read them (the shared mode);
-- gone with their media row.
CREATE TABLE media_blobs (
    media_id INTEGER PRIMARY KEY REFERENCES media (id) ON DELETE CASCADE,
    bytes    BLOB NOT NULL
) STRICT;
