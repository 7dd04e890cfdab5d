-- A websocket resume rebuilt from the database reads the reactions of a user's channels
-- changed after a point in time.
CREATE INDEX idx_reactions_channel_updateat ON reactions (channelid, updateat);
