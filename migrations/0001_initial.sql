-- The whole product's schema as far as it can be foreseen. Append-only: later changes go
-- into new numbered files. Instants are INTEGER Unix milliseconds (UTC). Every column that
-- holds a token or verifier is a BLOB sealed by crypto::Sealer with the row's identity as
-- associated data; nothing secret is stored in plain text.

-- Key-value facts about this database, such as the master-key check value.
CREATE TABLE settings (
    key   TEXT PRIMARY KEY NOT NULL,
    value BLOB NOT NULL
) STRICT;

-- A person on a chat platform. Deleting one cascades to everything of theirs.
CREATE TABLE users (
    id                      INTEGER PRIMARY KEY,
    platform                TEXT NOT NULL CHECK (platform IN ('telegram', 'discord')),
    remote_id               TEXT NOT NULL,
    display_name            TEXT,
    time_zone               TEXT,
    accepted_policy_version INTEGER,
    created_at              INTEGER NOT NULL,
    last_seen_at            INTEGER NOT NULL,
    UNIQUE (platform, remote_id)
) STRICT;

-- A Telegram chat or group, or a Discord channel: one shared queue.
CREATE TABLE chats (
    id         INTEGER PRIMARY KEY,
    platform   TEXT NOT NULL CHECK (platform IN ('telegram', 'discord')),
    remote_id  TEXT NOT NULL,
    kind       TEXT NOT NULL CHECK (kind IN ('private', 'group', 'channel')),
    title      TEXT,
    time_zone  TEXT,
    created_at INTEGER NOT NULL,
    UNIQUE (platform, remote_id)
) STRICT;

-- An OAuth authorization one user gave autopost at a platform: an X user token, or a Meta
-- long-lived user token (from which Page tokens derive). Revoked on disconnect/deletion.
CREATE TABLE grants (
    id               INTEGER PRIMARY KEY,
    owner_id         INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    platform         TEXT NOT NULL CHECK (platform IN ('x', 'meta')),
    remote_user_id   TEXT NOT NULL,
    scopes           TEXT NOT NULL DEFAULT '',
    access_token     BLOB,
    refresh_token    BLOB,
    token_expires_at INTEGER,
    state            TEXT NOT NULL DEFAULT 'active'
                     CHECK (state IN ('active', 'needs_reconnect', 'revoked')),
    created_at       INTEGER NOT NULL,
    refreshed_at     INTEGER,
    UNIQUE (owner_id, platform, remote_user_id)
) STRICT;

-- One place autopost can publish to: an X user, a Facebook Page, an Instagram account.
-- Page and Instagram accounts carry the Page token; X accounts use their grant's token.
CREATE TABLE accounts (
    id           INTEGER PRIMARY KEY,
    grant_id     INTEGER NOT NULL REFERENCES grants (id) ON DELETE CASCADE,
    provider     TEXT NOT NULL CHECK (provider IN ('x', 'facebook_page', 'instagram')),
    remote_id    TEXT NOT NULL,
    display_name TEXT NOT NULL,
    access_token BLOB,
    state        TEXT NOT NULL DEFAULT 'active'
                 CHECK (state IN ('active', 'needs_reconnect', 'revoked')),
    created_at   INTEGER NOT NULL,
    UNIQUE (grant_id, provider, remote_id)
) STRICT;

-- Which accounts post for which chat.
CREATE TABLE chat_accounts (
    chat_id    INTEGER NOT NULL REFERENCES chats (id) ON DELETE CASCADE,
    account_id INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    linked_by  INTEGER REFERENCES users (id) ON DELETE SET NULL,
    linked_at  INTEGER NOT NULL,
    PRIMARY KEY (chat_id, account_id)
) STRICT;
CREATE INDEX chat_accounts_by_account ON chat_accounts (account_id);

-- What someone wrote for a chat's queue. A recurring post keeps its rule and zone and is
-- re-armed after each occurrence.
CREATE TABLE posts (
    id         INTEGER PRIMARY KEY,
    chat_id    INTEGER NOT NULL REFERENCES chats (id) ON DELETE CASCADE,
    author_id  INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    body       TEXT NOT NULL,
    due_at     INTEGER NOT NULL,
    recurrence TEXT,
    time_zone  TEXT NOT NULL,
    state      TEXT NOT NULL DEFAULT 'scheduled'
               CHECK (state IN ('scheduled', 'done', 'cancelled')),
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
) STRICT;
CREATE INDEX posts_by_chat ON posts (chat_id, state, due_at);
CREATE INDEX posts_by_author ON posts (author_id);

-- One post on one account, with its own lifecycle:
-- queued -> publishing -> published | failed, plus unknown and cancelled.
CREATE TABLE targets (
    id              INTEGER PRIMARY KEY,
    post_id         INTEGER NOT NULL REFERENCES posts (id) ON DELETE CASCADE,
    account_id      INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    state           TEXT NOT NULL DEFAULT 'queued'
                    CHECK (state IN ('queued', 'publishing', 'published', 'failed', 'unknown', 'cancelled')),
    due_at          INTEGER NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    lease_until     INTEGER,
    remote_id       TEXT,
    remote_url      TEXT,
    last_error      TEXT,
    published_at    INTEGER,
    updated_at      INTEGER NOT NULL,
    UNIQUE (post_id, account_id)
) STRICT;
-- The scheduler's claim query reads only the head of this partial index, so the work per
-- tick does not grow with the number of queued posts.
CREATE INDEX targets_due ON targets (due_at, id) WHERE state = 'queued';
CREATE INDEX targets_in_flight ON targets (state) WHERE state = 'publishing';
CREATE INDEX targets_by_account ON targets (account_id);

-- Images attached to a post, stored under the data dir.
CREATE TABLE media (
    id           INTEGER PRIMARY KEY,
    post_id      INTEGER NOT NULL REFERENCES posts (id) ON DELETE CASCADE,
    position     INTEGER NOT NULL,
    content_type TEXT NOT NULL,
    byte_len     INTEGER NOT NULL,
    width        INTEGER,
    height       INTEGER,
    sha256       TEXT NOT NULL,
    file_name    TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    UNIQUE (post_id, position)
) STRICT;

-- Pending OAuth round trips: random, single-use, expiring, bound to the user who asked.
-- Only a hash of the state is kept; the PKCE verifier is sealed.
CREATE TABLE oauth_states (
    id            INTEGER PRIMARY KEY,
    state_hash    BLOB NOT NULL UNIQUE,
    provider      TEXT NOT NULL CHECK (provider IN ('x', 'meta')),
    user_id       INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    chat_id       INTEGER NOT NULL REFERENCES chats (id) ON DELETE CASCADE,
    pkce_verifier BLOB,
    created_at    INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL,
    used_at       INTEGER
) STRICT;

-- Things front ends must tell people (published, failed, linked); kept until delivered so
-- that a restart loses none.
CREATE TABLE notifications (
    id           INTEGER PRIMARY KEY,
    chat_id      INTEGER REFERENCES chats (id) ON DELETE CASCADE,
    user_id      INTEGER REFERENCES users (id) ON DELETE CASCADE,
    kind         TEXT NOT NULL,
    payload      TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    delivered_at INTEGER
) STRICT;
CREATE INDEX notifications_undelivered ON notifications (id) WHERE delivered_at IS NULL;

-- Chat updates already handled, so a redelivered update is not acted on twice.
CREATE TABLE processed_updates (
    source       TEXT NOT NULL,
    update_id    TEXT NOT NULL,
    processed_at INTEGER NOT NULL,
    PRIMARY KEY (source, update_id)
) STRICT;

-- Security events: linked, refreshed, revoked, exported, deleted, key rotated. Detail never
-- holds a secret; user_id is cleared when the user is erased.
CREATE TABLE audit_events (
    id         INTEGER PRIMARY KEY,
    at         INTEGER NOT NULL,
    user_id    INTEGER REFERENCES users (id) ON DELETE SET NULL,
    account_id INTEGER REFERENCES accounts (id) ON DELETE SET NULL,
    kind       TEXT NOT NULL,
    detail     TEXT NOT NULL DEFAULT ''
) STRICT;
CREATE INDEX audit_events_by_user ON audit_events (user_id);
