-- When a person was asked for their time zone (after agreeing to the privacy policy, or on
-- their first post after this change for those who agreed before it), so that the question
-- comes once, not with every post.
ALTER TABLE users ADD COLUMN time_zone_asked_at BIGINT;
