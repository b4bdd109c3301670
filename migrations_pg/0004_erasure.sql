-- Retention and erasure (issue 11, items 1 and 2).

-- When the purge removed a finished post's images (AUTOPOST_MEDIA_RETENTION_DAYS). The post
-- stays in /history, but a failed target of it can no longer be tried again as it was
-- written: without this mark the retry would go out without its pictures.
ALTER TABLE posts ADD COLUMN media_removed_at BIGINT;
