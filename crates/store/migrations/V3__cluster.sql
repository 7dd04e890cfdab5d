-- Cluster discovery: Mattermost's ClusterDiscovery table (same columns). Each running node has
-- one row saying where its gossip listens; nodes of the same cluster name read the table to find
-- each other. `createat` and `lastpingat` are written from the database clock, so a node whose
-- clock is off cannot make another node's row look stale.
CREATE TABLE clusterdiscovery (
    id          varchar(26) PRIMARY KEY,
    type        varchar(64) NOT NULL,
    clustername varchar(64) NOT NULL,
    hostname    varchar(512) NOT NULL,
    -- UDP gossip; the node-to-node TCP streams listen on the same port number.
    gossipport  integer NOT NULL DEFAULT 0,
    -- Mattermost's legacy streaming port; Chorus writes the gossip port here too.
    port        integer NOT NULL DEFAULT 0,
    createat    bigint NOT NULL,
    lastpingat  bigint NOT NULL
);

CREATE INDEX idx_clusterdiscovery_type_clustername ON clusterdiscovery (type, clustername);
