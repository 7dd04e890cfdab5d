-- Who was a member of which channel and team, and when: a websocket whose node died is rebuilt
-- from the database with the membership changes its client missed, and with the posts of each
-- channel only while the user was a member.
--
-- channelmemberhistory has Mattermost's ChannelMemberHistory columns (one row per membership
-- interval, leavetime NULL while it lasts) plus how the membership began and ended, which
-- decides the websocket events that announced it:
--   joinedby:  '' (a membership older than this table), 'added' (user_added to the channel),
--              'created' (the user opened the channel: channel_created, or direct_added /
--              group_added for a direct or group channel), 'team_created' (a default channel
--              of a team the user created: only added_to_team announced it);
--   leftby:    'removed' (user_removed: left the channel or was removed), 'left_team' (left
--              or was removed from the channel's team), '' while a member;
--   removerid: who removed the user (the user itself when leaving).
-- Rows are written in the same statement as the membership change.
CREATE TABLE channelmemberhistory (
    channelid varchar(26) NOT NULL,
    userid    varchar(26) NOT NULL,
    jointime  bigint NOT NULL,
    leavetime bigint,
    joinedby  varchar(16) NOT NULL DEFAULT '',
    leftby    varchar(16) NOT NULL DEFAULT '',
    removerid varchar(26) NOT NULL DEFAULT '',
    PRIMARY KEY (channelid, userid, jointime)
);
CREATE INDEX idx_channelmemberhistory_userid_leavetime ON channelmemberhistory (userid, leavetime);
CREATE INDEX idx_channelmemberhistory_channelid_jointime ON channelmemberhistory (channelid, jointime);
CREATE INDEX idx_channelmemberhistory_channelid_leavetime ON channelmemberhistory (channelid, leavetime);

-- The same for teams (TeamMembers keeps only the last DeleteAt, and a re-join clears it).
CREATE TABLE teammemberhistory (
    teamid    varchar(26) NOT NULL,
    userid    varchar(26) NOT NULL,
    jointime  bigint NOT NULL,
    leavetime bigint,
    PRIMARY KEY (teamid, userid, jointime)
);
CREATE INDEX idx_teammemberhistory_userid_leavetime ON teammemberhistory (userid, leavetime);
CREATE INDEX idx_teammemberhistory_teamid_jointime ON teammemberhistory (teamid, jointime);
CREATE INDEX idx_teammemberhistory_teamid_leavetime ON teammemberhistory (teamid, leavetime);

-- Memberships that exist now began at an unknown time: 0, before any websocket's horizon.
INSERT INTO channelmemberhistory (channelid, userid, jointime)
    SELECT channelid, userid, 0 FROM channelmembers;
INSERT INTO teammemberhistory (teamid, userid, jointime)
    SELECT teamid, userid, 0 FROM teammembers WHERE deleteat = 0;
