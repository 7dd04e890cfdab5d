-- Team icons (POST /teams/{id}/image): when the icon was last set, 0 for none. Additive, so
-- nodes one version behind keep working (the crate doc's rolling-upgrade rule).
ALTER TABLE teams ADD COLUMN IF NOT EXISTS lastteamiconupdate bigint NOT NULL DEFAULT 0;
