-- Custom emoji (issue 13): Mattermost's Emoji table. A deleted emoji keeps its row (DeleteAt),
-- so its name may be taken again: names are unique among live emoji only. The image lives in
-- the shared file store at emoji/<id>/image.
CREATE TABLE emoji (
    id        varchar(26) PRIMARY KEY,
    createat  bigint NOT NULL,
    updateat  bigint NOT NULL,
    deleteat  bigint NOT NULL DEFAULT 0,
    creatorid varchar(26) NOT NULL,
    name      varchar(64) NOT NULL
);
CREATE UNIQUE INDEX idx_emoji_live_name ON emoji (name) WHERE deleteat = 0;
CREATE INDEX idx_emoji_createat ON emoji (createat);

-- Collapsed reply threads (issue 13): who follows which thread (Mattermost's
-- ThreadMemberships). The thread itself (reply count, last reply, participants) is read from
-- the posts. lastviewed is what the user has read up to; unreadmentions counts mentions in
-- replies after it. lastupdated moves with every change a thread event announces to the user
-- (follow, read, a reply in a followed thread), so a websocket rebuilt from the database
-- after its node died asks here whether its client may have missed a thread_updated,
-- thread_follow_changed or thread_read_changed, and makes the client resync if so.
CREATE TABLE threadmemberships (
    postid         varchar(26) NOT NULL,
    userid         varchar(26) NOT NULL,
    following      boolean NOT NULL,
    lastviewed     bigint NOT NULL DEFAULT 0,
    lastupdated    bigint NOT NULL,
    unreadmentions bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (postid, userid)
);
CREATE INDEX idx_threadmemberships_user ON threadmemberships (userid, lastupdated);
