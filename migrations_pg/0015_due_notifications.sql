-- Wake-ups across instances (issue 13): every instance's scheduler LISTENs on `autopost_due`
-- and claims at once when targets become due sooner (a new post, an edit, a retry, post-now,
-- an account toggled on) or when a target leaves `publishing` (a slot under the per-account
-- and per-platform bounds opened). A hint only: instances also poll, so a lost notification
-- delays and never loses. Claims (queued -> publishing) and deferrals notify nobody.
-- SQLite runs one instance, which wakes itself: its 0015 is empty.

CREATE FUNCTION autopost_due_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF EXISTS (SELECT 1 FROM new_rows WHERE state = 'queued') THEN
            PERFORM pg_notify('autopost_due', '');
        END IF;
    ELSIF EXISTS (
        SELECT 1 FROM new_rows n JOIN old_rows o ON o.id = n.id
        WHERE (n.state = 'queued' AND (o.state <> 'queued' OR n.due_at < o.due_at))
           OR (o.state = 'publishing' AND n.state <> 'publishing')
    ) THEN
        PERFORM pg_notify('autopost_due', '');
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER targets_due_inserted AFTER INSERT ON targets
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION autopost_due_notify();

CREATE TRIGGER targets_due_updated AFTER UPDATE ON targets
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION autopost_due_notify();
