-- Posts held while their author picks one of the exact times suggested for a vague phrase
-- (issue 12 item 8): the text as typed, the `to` names and the images, for an hour. Removed
-- when used, by the purge once expired, and with their author (erasure).
CREATE TABLE drafts (
    id          INTEGER PRIMARY KEY,
    author_id   INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    chat_id     INTEGER NOT NULL REFERENCES chats (id) ON DELETE CASCADE,
    body        TEXT NOT NULL,
    -- JSON arrays of strings: the `to` names as given, and the suggested phrases in order.
    targets     TEXT NOT NULL,
    suggestions TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    -- Set while a press is scheduling it, so that a second press cannot post it twice.
    claimed_at  INTEGER
) STRICT;
CREATE INDEX drafts_by_expiry ON drafts (expires_at);
CREATE INDEX drafts_by_author ON drafts (author_id);

-- The images of a draft, as received; they go with their draft.
CREATE TABLE draft_images (
    draft_id INTEGER NOT NULL REFERENCES drafts (id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    bytes    BLOB NOT NULL,
    PRIMARY KEY (draft_id, position)
) STRICT;
