-- A post's own text for one network, where the author wrote one (`x: shorter text`): that
-- network's targets publish it instead of the post's body. Kept per network rather than per
-- target, so that a target toggled off and on again, an edit of the main text, and the next
-- occurrence of a series all keep it.
CREATE TABLE post_variants (
    post_id  BIGINT NOT NULL REFERENCES posts (id) ON DELETE CASCADE,
    provider TEXT NOT NULL CHECK (provider IN ('x', 'facebook_page', 'instagram')),
    body     TEXT NOT NULL,
    PRIMARY KEY (post_id, provider)
);
