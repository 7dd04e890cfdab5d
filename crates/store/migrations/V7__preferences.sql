-- Preferences: Mattermost's table (per user, (category, name) -> value): theme, display
-- settings, direct channels shown, saved ("flagged") posts.
CREATE TABLE preferences (
    userid   varchar(26) NOT NULL,
    category varchar(32) NOT NULL,
    name     varchar(32) NOT NULL,
    value    text NOT NULL,
    PRIMARY KEY (userid, category, name)
);
CREATE INDEX idx_preferences_category ON preferences (category);
CREATE INDEX idx_preferences_name ON preferences (name);

-- When each user's preferences last changed (saved or deleted), written in the same
-- transaction. preferences_changed / preferences_deleted events cannot be rebuilt from the
-- rows (a deleted row is gone), so a websocket rebuilt from the database after its node died
-- asks this table whether its client may have missed one, and makes the client resync if so.
CREATE TABLE preferencechanges (
    userid    varchar(26) PRIMARY KEY,
    changedat bigint NOT NULL
);
