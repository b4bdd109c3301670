-- Wake-ups across instances (issue 13): on PostgreSQL a trigger notifies every instance's
-- scheduler when targets become due sooner (see migrations_pg/0015_due_notifications.sql).
-- SQLite runs one instance, which wakes itself, so nothing changes here; the migration
-- exists so that both directories keep the same versions.
SELECT 1;
