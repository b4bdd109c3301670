-- What the privacy promises need beyond the initial schema (issue 11).

-- When a person confirmed they are 18 or older and agreed to the policy. Until then only
-- /start, /help, /export and /deleteme work for them. Existing people never confirmed
-- their age, so they are asked once.
ALTER TABLE users ADD COLUMN adult_confirmed_at INTEGER;

-- Each time a person agreed to a policy version, or was shown a newer one: the consent
-- history an export contains.
CREATE TABLE consents (
    id             INTEGER PRIMARY KEY,
    user_id        INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    policy_version INTEGER NOT NULL,
    action         TEXT NOT NULL CHECK (action IN ('agreed', 'notified')),
    at             INTEGER NOT NULL
) STRICT;
CREATE INDEX consents_by_user ON consents (user_id);

-- Tokens the platform could not be told to revoke yet (it was unreachable): kept sealed
-- (row identity as associated data) and retried with backoff until the platform confirms
-- or the 30 days of the policy pass; then the row is removed. The user link is cleared
-- when the person is erased; the chat to tell stays only while it exists.
CREATE TABLE pending_revocations (
    id              INTEGER PRIMARY KEY,
    provider        TEXT NOT NULL CHECK (provider IN ('x', 'meta')),
    token           BLOB NOT NULL,
    user_id         INTEGER REFERENCES users (id) ON DELETE SET NULL,
    notify_chat_id  INTEGER REFERENCES chats (id) ON DELETE SET NULL,
    label           TEXT NOT NULL DEFAULT '',
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    created_at      INTEGER NOT NULL
) STRICT;
CREATE INDEX pending_revocations_due ON pending_revocations (next_attempt_at);

-- Meta data-deletion requests: the confirmation code Meta shows the person and what was
-- deleted, for the status page. Nothing here identifies the person.
CREATE TABLE deletion_requests (
    id                INTEGER PRIMARY KEY,
    confirmation_code TEXT NOT NULL UNIQUE,
    source            TEXT NOT NULL CHECK (source IN ('meta')),
    summary           TEXT NOT NULL,
    requested_at      INTEGER NOT NULL,
    completed_at      INTEGER
) STRICT;

-- The browser an OAuth flow was first opened in (a hash of a short-lived cookie), so a
-- forwarded link cannot link someone else's account to the sender's chat.
ALTER TABLE oauth_states ADD COLUMN browser_hash BLOB;

-- The purge task removes by age; these keep it a range seek.
CREATE INDEX notifications_delivered ON notifications (delivered_at) WHERE delivered_at IS NOT NULL;
CREATE INDEX oauth_states_by_expiry ON oauth_states (expires_at);
CREATE INDEX posts_finished ON posts (updated_at) WHERE state IN ('done', 'cancelled');
