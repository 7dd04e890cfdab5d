-- Integrations (issue 16): bots, incoming and outgoing webhooks, and the outbox of outgoing
-- deliveries. Additive: a node of the previous version ignores these tables.

-- Mattermost's Bots table: a bot is a user row (users.isbot) plus who owns it.
CREATE TABLE bots (
    userid         varchar(26) PRIMARY KEY,
    description    text NOT NULL DEFAULT '',
    ownerid        varchar(190) NOT NULL,
    lasticonupdate bigint NOT NULL DEFAULT 0,
    createat       bigint NOT NULL,
    updateat       bigint NOT NULL,
    deleteat       bigint NOT NULL DEFAULT 0
);
CREATE INDEX idx_bots_ownerid ON bots (ownerid);

-- Mattermost's IncomingWebhooks.
CREATE TABLE incomingwebhooks (
    id            varchar(26) PRIMARY KEY,
    createat      bigint NOT NULL,
    updateat      bigint NOT NULL,
    deleteat      bigint NOT NULL DEFAULT 0,
    userid        varchar(26) NOT NULL,
    channelid     varchar(26) NOT NULL,
    teamid        varchar(26) NOT NULL,
    displayname   varchar(64) NOT NULL DEFAULT '',
    description   varchar(500) NOT NULL DEFAULT '',
    username      varchar(255) NOT NULL DEFAULT '',
    iconurl       varchar(1024) NOT NULL DEFAULT '',
    channellocked boolean NOT NULL DEFAULT false
);
CREATE INDEX idx_incomingwebhooks_teamid ON incomingwebhooks (teamid);
CREATE INDEX idx_incomingwebhooks_userid ON incomingwebhooks (userid);

-- Mattermost's OutgoingWebhooks (trigger words and callback URLs as text arrays, so a post's
-- statement can match them in SQL).
CREATE TABLE outgoingwebhooks (
    id           varchar(26) PRIMARY KEY,
    token        varchar(26) NOT NULL,
    createat     bigint NOT NULL,
    updateat     bigint NOT NULL,
    deleteat     bigint NOT NULL DEFAULT 0,
    creatorid    varchar(26) NOT NULL,
    channelid    varchar(26) NOT NULL DEFAULT '',
    teamid       varchar(26) NOT NULL,
    triggerwords text[] NOT NULL DEFAULT '{}',
    triggerwhen  integer NOT NULL DEFAULT 0,
    callbackurls text[] NOT NULL DEFAULT '{}',
    displayname  varchar(64) NOT NULL DEFAULT '',
    description  varchar(500) NOT NULL DEFAULT '',
    contenttype  varchar(128) NOT NULL DEFAULT 'application/x-www-form-urlencoded',
    username     varchar(64) NOT NULL DEFAULT '',
    iconurl      varchar(1024) NOT NULL DEFAULT ''
);
CREATE INDEX idx_outgoingwebhooks_teamid ON outgoingwebhooks (teamid) WHERE deleteat = 0;

-- The outbox: one row per (triggering post, hook, callback URL), inserted by the post's own
-- statement, so a post is never committed without its deliveries nor a delivery without its
-- post. Workers on every node claim due rows (FOR UPDATE SKIP LOCKED) under a lease that
-- expires by the database clock: a killed node's claim passes to another node. The row id is
-- the Idempotency-Key header of every attempt.
CREATE TABLE outgoingdeliveries (
    id             varchar(26) PRIMARY KEY,
    hookid         varchar(26) NOT NULL,
    postid         varchar(26) NOT NULL,
    callbackurl    text NOT NULL,
    createat       bigint NOT NULL,
    -- Claims so far; the worker's updates name the attempt, so a presumed-dead worker cannot
    -- touch a later one.
    attempts       integer NOT NULL DEFAULT 0,
    nextattemptat  bigint NOT NULL,
    leaseowner     varchar(64) NOT NULL DEFAULT '',
    leaseuntil     bigint NOT NULL DEFAULT 0,
    -- 0 until acknowledged (a 2xx answer) / until given up.
    deliveredat    bigint NOT NULL DEFAULT 0,
    failedat       bigint NOT NULL DEFAULT 0,
    laststatus     integer NOT NULL DEFAULT 0,
    lasterror      text NOT NULL DEFAULT ''
);
CREATE INDEX idx_outgoingdeliveries_due ON outgoingdeliveries (nextattemptat)
    WHERE deliveredat = 0 AND failedat = 0;
CREATE INDEX idx_outgoingdeliveries_postid ON outgoingdeliveries (postid);

-- Mattermost's Commands (custom slash commands).
CREATE TABLE commands (
    id               varchar(26) PRIMARY KEY,
    token            varchar(26) NOT NULL,
    createat         bigint NOT NULL,
    updateat         bigint NOT NULL,
    deleteat         bigint NOT NULL DEFAULT 0,
    creatorid        varchar(26) NOT NULL,
    teamid           varchar(26) NOT NULL,
    trigger          varchar(128) NOT NULL,
    method           varchar(1) NOT NULL DEFAULT 'P',
    username         varchar(64) NOT NULL DEFAULT '',
    iconurl          varchar(1024) NOT NULL DEFAULT '',
    autocomplete     boolean NOT NULL DEFAULT false,
    autocompletedesc varchar(1024) NOT NULL DEFAULT '',
    autocompletehint varchar(1024) NOT NULL DEFAULT '',
    displayname      varchar(64) NOT NULL DEFAULT '',
    description      varchar(128) NOT NULL DEFAULT '',
    url              varchar(1024) NOT NULL DEFAULT ''
);
CREATE INDEX idx_commands_teamid ON commands (teamid) WHERE deleteat = 0;

-- Ephemeral messages are never stored; this stamps when a user was last sent one, so a
-- websocket rebuilt from the database after its node died can tell whether its client may
-- have missed one, and makes the client resync then (store::history).
CREATE TABLE ephemeralsent (
    userid varchar(26) PRIMARY KEY,
    sentat bigint NOT NULL
);
