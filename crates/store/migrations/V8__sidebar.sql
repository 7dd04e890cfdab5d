-- Sidebar categories: Mattermost's SidebarCategories and SidebarChannels tables. A user's
-- default categories of a team (favorites, channels, direct_messages) have deterministic ids
-- (`<type>_<userid>_<teamid>`), so two nodes creating them at once create them once.
-- sidebarchannels holds only the channels placed explicitly; a channel of the user placed in
-- no category of the team is listed in the team's channels (or direct_messages) category.
CREATE TABLE sidebarcategories (
    id          varchar(128) PRIMARY KEY,
    userid      varchar(26) NOT NULL,
    teamid      varchar(26) NOT NULL,
    sortorder   bigint NOT NULL,
    sorting     varchar(64) NOT NULL DEFAULT '',
    type        varchar(64) NOT NULL,
    displayname varchar(64) NOT NULL,
    muted       boolean NOT NULL DEFAULT false,
    collapsed   boolean NOT NULL DEFAULT false
);
CREATE INDEX idx_sidebarcategories_userid_teamid ON sidebarcategories (userid, teamid);

CREATE TABLE sidebarchannels (
    channelid  varchar(26) NOT NULL,
    userid     varchar(26) NOT NULL,
    categoryid varchar(128) NOT NULL,
    sortorder  bigint NOT NULL,
    PRIMARY KEY (channelid, userid, categoryid)
);
CREATE INDEX idx_sidebarchannels_categoryid ON sidebarchannels (categoryid);
CREATE INDEX idx_sidebarchannels_userid ON sidebarchannels (userid);

-- When each user's personal settings last changed: their sidebar categories
-- (sidebar_category_created / _updated / _deleted / _order_updated) and their channel
-- memberships' notify props and roles (channel_member_updated), written in the same
-- transaction. Like preferencechanges: those events cannot be rebuilt from the rows, so a
-- websocket rebuilt from the database asks this table whether its client may have missed one,
-- and makes the client resync if so.
CREATE TABLE personalchanges (
    userid    varchar(26) PRIMARY KEY,
    changedat bigint NOT NULL
);
