-- The chat messages that show a post: its confirmation(s) and its one status message, so
-- that each is edited in place as the post changes instead of going stale. `chat` and
-- `message` are the chat platform's own ids, as text (a Discord confirmation is the
-- interaction that answered with it: `interaction:<id>`).
CREATE TABLE post_messages (
    post_id    BIGINT NOT NULL REFERENCES posts (id) ON DELETE CASCADE,
    role       TEXT NOT NULL CHECK (role IN ('confirmation', 'status')),
    chat       TEXT NOT NULL,
    message    TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (post_id, role, chat, message)
);
-- One status message per post: remembering a new one replaces the old.
CREATE UNIQUE INDEX post_messages_one_status ON post_messages (post_id) WHERE role = 'status';
