-- A post's statement locks and updates its channel's row in one UPDATE instead of a SELECT ...
-- FOR UPDATE followed by an UPDATE: it needs the channel's previous lastpostat (which chains
-- the channel's posts across nodes), and an UPDATE's RETURNING sees only the new row, so the
-- UPDATE copies the old value here (SET sees the old row). Written only by that statement and
-- read only from its RETURNING. Additive (the crate doc's rolling-upgrade rule).
ALTER TABLE channels ADD COLUMN IF NOT EXISTS previouspostat bigint NOT NULL DEFAULT 0;
