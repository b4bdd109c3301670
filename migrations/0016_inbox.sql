-- Webhooks behind a load balancer (issue 13): what a front end accepted is in the database
-- before it answers, so that an instance dying after its answer loses nothing. The twin of
-- migrations_pg/0016_inbox.sql.

-- A Telegram update or Discord interaction accepted and not yet handled. The instance that
-- received it claims it at once; when that instance dies (its row in `instances` is gone) or
-- its claim runs out, another claims and handles it. Handled rows are deleted: the ids
-- already handled live in `processed_updates`. `token` is a Discord interaction token, sealed.
CREATE TABLE inbox (
    id            INTEGER PRIMARY KEY,
    source        TEXT NOT NULL,
    delivery_id   TEXT NOT NULL,
    payload       BLOB NOT NULL,
    token         BLOB,
    received_at   INTEGER NOT NULL,
    claimed_by    TEXT,
    claimed_until INTEGER NOT NULL,
    answered      INTEGER NOT NULL DEFAULT 0,
    UNIQUE (source, delivery_id)
) STRICT;

CREATE INDEX inbox_claims ON inbox (source, claimed_until);

-- The parts of a Telegram album seen so far: they may reach different instances. An album is
-- handled once it has been quiet for a while, by the instance that takes its parts out.
CREATE TABLE album_parts (
    album       TEXT NOT NULL,
    update_id   TEXT NOT NULL,
    payload     BLOB NOT NULL,
    received_at INTEGER NOT NULL,
    PRIMARY KEY (album, update_id)
) STRICT;
