-- The parts of an X thread: a text too long for one X post is split when the post is
-- accepted, and each part is published in order as a reply to the one before. A part's
-- remote id is saved the instant X answers, so that a retry or a restart resumes at the
-- first part without one and never sends a part twice. Targets that are one post have no
-- rows here. Gone with the target (and so with an erased or purged post).
CREATE TABLE target_parts (
    target_id    BIGINT NOT NULL REFERENCES targets (id) ON DELETE CASCADE,
    position     BIGINT NOT NULL CHECK (position >= 0),
    body         TEXT NOT NULL,
    remote_id    TEXT,
    remote_url   TEXT,
    published_at BIGINT,
    PRIMARY KEY (target_id, position)
);
