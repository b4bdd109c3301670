-- A recurring post is a series: every later occurrence names the series' first post here,
-- and that first post's id is the one people see and use (`/edit`, `/cancel`, `/postnow`,
-- notifications, `/history`). NULL for a post that is its own series. No foreign key: the
-- retention purge may remove the first occurrence while later ones still run, and the
-- number must keep naming the series.
ALTER TABLE posts ADD COLUMN series_id BIGINT;
CREATE INDEX posts_by_series ON posts (series_id) WHERE series_id IS NOT NULL;
