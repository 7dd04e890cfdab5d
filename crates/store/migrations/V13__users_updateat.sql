-- A websocket rebuilt after its node died first checks whether any user was created or
-- updated since the connection's horizon (store::history::settings_changed_since). Without an
-- index on updateat that check read every user row, once per resuming client. Additive (the
-- crate doc's rolling-upgrade rule); Mattermost has the same index (idx_users_update_at).
CREATE INDEX IF NOT EXISTS idx_users_updateat ON users (updateat);
