-- Pins (issue 13): when each post was last pinned or unpinned, written by the same UPDATE.
-- A pin is announced with post_edited but moves no timestamp a rebuild replays from (editat
-- stays: the message did not change), so a websocket rebuilt from the database after its node
-- died asks here whether its client may have missed one, and makes the client resync if so
-- (store::history::settings_changed_since). Additive: a node of the previous version ignores
-- the column. A constant default adds it without rewriting the table.
ALTER TABLE posts ADD COLUMN pinchangedat bigint NOT NULL DEFAULT 0;
CREATE INDEX idx_posts_pinchangedat ON posts (channelid, pinchangedat) WHERE pinchangedat > 0;
