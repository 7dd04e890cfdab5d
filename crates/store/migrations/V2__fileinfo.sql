-- File attachments (issue 6). Mattermost's table and column names. A row is inserted only after
-- the file's bytes are stored, so every row names an object that exists; `postid` is '' until a
-- post attaches the file, and deleting the post sets `deleteat`.

CREATE TABLE fileinfo (
    id              varchar(26) PRIMARY KEY,
    creatorid       varchar(26) NOT NULL,
    postid          varchar(26) NOT NULL DEFAULT '',
    channelid       varchar(26) NOT NULL,
    createat        bigint NOT NULL,
    updateat        bigint NOT NULL,
    deleteat        bigint NOT NULL DEFAULT 0,
    path            text NOT NULL,
    thumbnailpath   text NOT NULL DEFAULT '',
    previewpath     text NOT NULL DEFAULT '',
    name            text NOT NULL,
    extension       varchar(64) NOT NULL DEFAULT '',
    size            bigint NOT NULL,
    mimetype        text NOT NULL DEFAULT '',
    width           integer NOT NULL DEFAULT 0,
    height          integer NOT NULL DEFAULT 0,
    haspreviewimage boolean NOT NULL DEFAULT false,
    minipreview     bytea,
    remoteid        varchar(26),
    archived        boolean NOT NULL DEFAULT false
);
CREATE INDEX idx_fileinfo_postid ON fileinfo (postid) WHERE postid <> '';
CREATE INDEX idx_fileinfo_creatorid ON fileinfo (creatorid);
CREATE INDEX idx_fileinfo_channelid ON fileinfo (channelid, createat);
