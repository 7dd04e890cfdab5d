-- Leadership and the job server.

-- One row per cluster: who leads, under which fencing term, until when. `expiresat` is always
-- computed by the database clock (now()), never by a node's clock, so nodes whose clocks disagree
-- still agree on whether the lease has expired.
CREATE TABLE leaderlease (
    name         varchar(128) PRIMARY KEY,
    holdernodeid varchar(64) NOT NULL,
    -- Increases by one at every acquisition: a fencing token for writes only the leader may do.
    term         bigint NOT NULL,
    acquiredat   timestamptz NOT NULL,
    expiresat    timestamptz NOT NULL
);

-- Mattermost's Jobs table (same columns and statuses), plus what running it across several
-- nodes needs: who runs it, which attempt this is, and the schedule slot of a recurring job.
CREATE TABLE jobs (
    id             varchar(26) PRIMARY KEY,
    type           varchar(32) NOT NULL,
    priority       bigint NOT NULL DEFAULT 0,
    createat       bigint NOT NULL,
    startat        bigint NOT NULL DEFAULT 0,
    lastactivityat bigint NOT NULL DEFAULT 0,
    status         varchar(32) NOT NULL,
    progress       bigint NOT NULL DEFAULT 0,
    data           jsonb NOT NULL DEFAULT '{}',
    -- The node running it ('' while pending) and how many times it was claimed: a worker's
    -- updates name both, so a worker that was presumed dead cannot touch a later attempt.
    workernodeid   varchar(64) NOT NULL DEFAULT '',
    attempt        integer NOT NULL DEFAULT 0,
    -- Recurring jobs only: which period of the schedule this run is for. Unique per type, so two
    -- leaders (or one leader and its successor) can never schedule the same run twice.
    scheduleslot   bigint
);
CREATE INDEX idx_jobs_type ON jobs (type);
CREATE INDEX idx_jobs_status_type ON jobs (status, type);
CREATE INDEX idx_jobs_createat ON jobs (createat);
CREATE UNIQUE INDEX idx_jobs_type_scheduleslot ON jobs (type, scheduleslot)
    WHERE scheduleslot IS NOT NULL;

-- Data retention deletes posts by age in batches (Mattermost has the same index).
CREATE INDEX IF NOT EXISTS idx_posts_create_at ON posts (createat);
