-- Pruning handled updates by age runs on every delivery; an index keeps it a range seek.
CREATE INDEX processed_updates_by_time ON processed_updates (processed_at);
