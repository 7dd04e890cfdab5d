-- Chorus schema v1. Table and column names follow Mattermost's PostgreSQL schema (lower case,
-- no separators) so operators recognise them. Additive changes only within a minor version.

CREATE TABLE systems (
    name  varchar(64) PRIMARY KEY,
    value text NOT NULL
);

CREATE TABLE users (
    id                 varchar(26) PRIMARY KEY,
    createat           bigint NOT NULL,
    updateat           bigint NOT NULL,
    deleteat           bigint NOT NULL DEFAULT 0,
    username           varchar(64) NOT NULL UNIQUE,
    password           varchar(256) NOT NULL DEFAULT '',
    authdata           varchar(128),
    authservice        varchar(32) NOT NULL DEFAULT '',
    email              varchar(128) NOT NULL UNIQUE,
    emailverified      boolean NOT NULL DEFAULT false,
    nickname           varchar(64) NOT NULL DEFAULT '',
    firstname          varchar(64) NOT NULL DEFAULT '',
    lastname           varchar(64) NOT NULL DEFAULT '',
    position           varchar(128) NOT NULL DEFAULT '',
    roles              varchar(256) NOT NULL DEFAULT '',
    props              jsonb NOT NULL DEFAULT '{}',
    notifyprops        jsonb NOT NULL DEFAULT '{}',
    lastpasswordupdate bigint NOT NULL DEFAULT 0,
    lastpictureupdate  bigint NOT NULL DEFAULT 0,
    failedattempts     integer NOT NULL DEFAULT 0,
    locale             varchar(5) NOT NULL DEFAULT 'en',
    timezone           jsonb NOT NULL DEFAULT '{}',
    mfaactive          boolean NOT NULL DEFAULT false,
    isbot              boolean NOT NULL DEFAULT false,
    botdescription     text NOT NULL DEFAULT ''
);
CREATE INDEX idx_users_createat ON users (createat);

CREATE TABLE sessions (
    id             varchar(26) PRIMARY KEY,
    token          varchar(26) NOT NULL UNIQUE,
    createat       bigint NOT NULL,
    expiresat      bigint NOT NULL,
    lastactivityat bigint NOT NULL,
    userid         varchar(26) NOT NULL,
    deviceid       text NOT NULL DEFAULT '',
    roles          varchar(256) NOT NULL DEFAULT '',
    isoauth        boolean NOT NULL DEFAULT false,
    props          jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX idx_sessions_userid ON sessions (userid);
CREATE INDEX idx_sessions_expiresat ON sessions (expiresat);

CREATE TABLE useraccesstokens (
    id          varchar(26) PRIMARY KEY,
    token       varchar(26) NOT NULL UNIQUE,
    userid      varchar(26) NOT NULL,
    description text NOT NULL DEFAULT '',
    isactive    boolean NOT NULL DEFAULT true
);
CREATE INDEX idx_useraccesstokens_userid ON useraccesstokens (userid);

CREATE TABLE teams (
    id              varchar(26) PRIMARY KEY,
    createat        bigint NOT NULL,
    updateat        bigint NOT NULL,
    deleteat        bigint NOT NULL DEFAULT 0,
    displayname     varchar(64) NOT NULL,
    name            varchar(64) NOT NULL UNIQUE,
    description     varchar(255) NOT NULL DEFAULT '',
    email           varchar(128) NOT NULL DEFAULT '',
    type            varchar(1) NOT NULL,
    companyname     varchar(64) NOT NULL DEFAULT '',
    alloweddomains  text NOT NULL DEFAULT '',
    inviteid        varchar(32) NOT NULL DEFAULT '',
    allowopeninvite boolean NOT NULL DEFAULT false
);

CREATE TABLE teammembers (
    teamid      varchar(26) NOT NULL,
    userid      varchar(26) NOT NULL,
    roles       varchar(256) NOT NULL DEFAULT '',
    deleteat    bigint NOT NULL DEFAULT 0,
    schemeuser  boolean NOT NULL DEFAULT true,
    schemeadmin boolean NOT NULL DEFAULT false,
    schemeguest boolean NOT NULL DEFAULT false,
    createat    bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (teamid, userid)
);
CREATE INDEX idx_teammembers_userid ON teammembers (userid);

CREATE TABLE channels (
    id                varchar(26) PRIMARY KEY,
    createat          bigint NOT NULL,
    updateat          bigint NOT NULL,
    deleteat          bigint NOT NULL DEFAULT 0,
    teamid            varchar(26) NOT NULL,
    type              varchar(1) NOT NULL,
    displayname       varchar(64) NOT NULL DEFAULT '',
    name              varchar(64) NOT NULL,
    header            text NOT NULL DEFAULT '',
    purpose           varchar(250) NOT NULL DEFAULT '',
    lastpostat        bigint NOT NULL DEFAULT 0,
    totalmsgcount     bigint NOT NULL DEFAULT 0,
    totalmsgcountroot bigint NOT NULL DEFAULT 0,
    lastrootpostat    bigint NOT NULL DEFAULT 0,
    extraupdateat     bigint NOT NULL DEFAULT 0,
    creatorid         varchar(26) NOT NULL DEFAULT '',
    UNIQUE (name, teamid)
);
CREATE INDEX idx_channels_teamid ON channels (teamid);

CREATE TABLE channelmembers (
    channelid        varchar(26) NOT NULL,
    userid           varchar(26) NOT NULL,
    roles            varchar(256) NOT NULL DEFAULT '',
    lastviewedat     bigint NOT NULL DEFAULT 0,
    msgcount         bigint NOT NULL DEFAULT 0,
    mentioncount     bigint NOT NULL DEFAULT 0,
    msgcountroot     bigint NOT NULL DEFAULT 0,
    mentioncountroot bigint NOT NULL DEFAULT 0,
    notifyprops      jsonb NOT NULL DEFAULT '{}',
    lastupdateat     bigint NOT NULL DEFAULT 0,
    schemeuser       boolean NOT NULL DEFAULT true,
    schemeadmin      boolean NOT NULL DEFAULT false,
    schemeguest      boolean NOT NULL DEFAULT false,
    PRIMARY KEY (channelid, userid)
);
CREATE INDEX idx_channelmembers_userid ON channelmembers (userid);

CREATE TABLE posts (
    id            varchar(26) PRIMARY KEY,
    createat      bigint NOT NULL,
    updateat      bigint NOT NULL,
    editat        bigint NOT NULL DEFAULT 0,
    deleteat      bigint NOT NULL DEFAULT 0,
    ispinned      boolean NOT NULL DEFAULT false,
    userid        varchar(26) NOT NULL,
    channelid     varchar(26) NOT NULL,
    rootid        varchar(26) NOT NULL DEFAULT '',
    originalid    varchar(26) NOT NULL DEFAULT '',
    message       text NOT NULL DEFAULT '',
    type          varchar(26) NOT NULL DEFAULT '',
    props         jsonb NOT NULL DEFAULT '{}',
    hashtags      varchar(1000) NOT NULL DEFAULT '',
    fileids       jsonb NOT NULL DEFAULT '[]',
    hasreactions  boolean NOT NULL DEFAULT false,
    replycount    bigint NOT NULL DEFAULT 0,
    lastreplyat   bigint NOT NULL DEFAULT 0,
    -- Idempotency key of a client's retry (Mattermost keeps it only in memory; we keep it so
    -- a retry through another node after a crash is still stored once).
    pendingpostid varchar(64) NOT NULL DEFAULT '',
    messagetsv    tsvector GENERATED ALWAYS AS (to_tsvector('english', message)) STORED
);
CREATE INDEX idx_posts_channel_createat ON posts (channelid, createat);
CREATE INDEX idx_posts_channel_updateat ON posts (channelid, updateat);
CREATE INDEX idx_posts_rootid ON posts (rootid) WHERE rootid <> '';
CREATE UNIQUE INDEX idx_posts_pending ON posts (userid, pendingpostid) WHERE pendingpostid <> '';
CREATE INDEX idx_posts_message_tsv ON posts USING gin (messagetsv);

CREATE TABLE reactions (
    userid    varchar(26) NOT NULL,
    postid    varchar(26) NOT NULL,
    emojiname varchar(64) NOT NULL,
    createat  bigint NOT NULL,
    updateat  bigint NOT NULL,
    deleteat  bigint NOT NULL DEFAULT 0,
    channelid varchar(26) NOT NULL DEFAULT '',
    PRIMARY KEY (postid, userid, emojiname)
);

CREATE TABLE status (
    userid         varchar(26) PRIMARY KEY,
    status         varchar(32) NOT NULL,
    manual         boolean NOT NULL DEFAULT false,
    lastactivityat bigint NOT NULL DEFAULT 0,
    dndendtime     bigint NOT NULL DEFAULT 0
);
