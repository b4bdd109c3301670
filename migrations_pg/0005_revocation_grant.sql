-- Which grant a pending revocation came from, so that Meta's data-deletion request for that
-- Meta user also erases a token still waiting to be revoked. Cleared (not cascaded) when the
-- grant goes with an erased person: their revocation must still be retried.
ALTER TABLE pending_revocations ADD COLUMN grant_id BIGINT REFERENCES grants (id) ON DELETE SET NULL;
