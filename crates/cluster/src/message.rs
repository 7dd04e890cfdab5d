use serde::{Deserialize, Serialize};

/// What travels between nodes, serialized with postcard inside an envelope (see `wire`).
///
/// Postcard encodes an enum variant by its index, so **the order of the variants is part of the
/// wire format**: never reorder, remove or change the fields of a variant; add new variants at
/// the end only. A node that receives a variant it does not know (sent by a newer minor version)
/// logs it at debug level and ignores it — reliable ones are still acknowledged — so nodes one
/// minor version apart interoperate.
///
/// One more change is compatible: a message is the whole payload of its envelope, so an
/// `Option` field appended to the end of a variant and read with [`absent_is_none`] is ignored
/// by an older node (postcard ignores trailing bytes) and read as `None` from an older node
/// (nothing follows). Only at the end of a variant, never inside a nested struct or list.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClusterMessage {
    /// A `chorus_model::WebSocketEvent`, serialized as JSON by the sender.
    WebSocketEvent {
        event_json: String,
        /// For a `posted` event: the `create_at` of the channel's previous post, which chains
        /// the channel's posts so that every node publishes them in order. Appended in protocol
        /// version 2 (see [`ClusterMessage`] on how an N-1 node reads it).
        #[serde(default, deserialize_with = "absent_is_none")]
        previous_post_at: Option<i64>,
    },
    SessionRevoked {
        session_ids: Vec<String>,
        tokens: Vec<String>,
        user_id: String,
    },
    UserSessionsChanged {
        user_id: String,
    },
    StatusChanged {
        user_id: String,
        status: String,
        manual: bool,
        last_activity_at: i64,
    },
    ChannelMembersChanged {
        channel_id: String,
    },
    TeamMembersChanged {
        team_id: String,
    },
    ChannelChanged {
        channel_id: String,
    },
    UserChanged {
        user_id: String,
    },
    ConfigChanged {
        config_hash: String,
    },
    InvalidateAllCaches,
    /// An admin saved the config on the sender (ReadOnlyConfig off): the whole config as
    /// JSON; receivers keep their own ClusterSettings.
    ConfigSaved {
        config_json: String,
    },
    /// "Does any node hold a websocket of this user?" — asked before marking them offline.
    UserConnectionsQuery {
        user_id: String,
    },
    /// The answer of a node that does hold one.
    UserConnectionsHeld {
        user_id: String,
    },
    /// An admin asked one node to reload config.json from disk (POST /config/reload): every
    /// node re-reads its own file, so a DataSource edited on each node takes effect everywhere.
    ReloadConfigFromDisk,
    /// An admin asked for POST /database/recycle: every node reopens its database pools.
    RecycleDatabaseConnections,
    /// "Hand over websocket connection `connection_id` of this session": its client resumed
    /// on the sender, which expects one [`ClusterMessage::ResumeAnswer`] from every node asked.
    ResumeRequest {
        request_id: String,
        connection_id: String,
        user_id: String,
        session_id: String,
        /// The next `seq` the client expects.
        sequence_number: i64,
    },
    ResumeAnswer {
        request_id: String,
        answer: ResumeAnswer,
    },
    /// What the sender's websocket connections are about to be sent (sent before the frames
    /// go out), so that if the sender dies its clients can resume on another node from the
    /// database.
    ConnectionCheckpoints {
        checkpoints: Vec<ConnectionCheckpoint>,
    },
    /// What the sender knows of its own websocket connections, by connection id: sent to a
    /// node that just joined, which from then on gets their checkpoints, so that it can
    /// rebuild them should the sender die.
    ConnectionRecords {
        records: Vec<(String, ConnectionRecord)>,
    },
    /// An admin marked the cluster busy (POST /server_busy) until `expires_at` (ms since the
    /// epoch), or not busy (DELETE /server_busy: 0). While busy, searches and autocompletes
    /// answer 503, as in Mattermost.
    ServerBusyChanged {
        expires_at: i64,
    },
    /// An outgoing webhook of `team_id` was created, changed or deleted: whether the team's
    /// posts can trigger one is no longer known.
    OutgoingWebhooksChanged {
        team_id: String,
    },
    /// The channels whose `posted` and `typing` events the sender wants in full (its
    /// websocket clients' channels). `replace`: the whole set, else a change to the one sent
    /// before. A node that never told its set gets every event in full. Only a hint: a node
    /// told of a post in a channel it did not ask for checks its own clients (see
    /// [`ClusterMessage::PostPassed`]).
    ChannelInterest {
        replace: bool,
        added: Vec<String>,
        removed: Vec<String>,
    },
    /// Instead of a `posted` event, to a node that did not ask for the channel: the post
    /// exists (so reads of the channel must see it) and where it stands in the channel's
    /// chain of posts. A receiver whose clients do want it after all reads it from the
    /// database.
    PostPassed {
        channel_id: String,
        post_id: String,
        create_at: i64,
        previous_post_at: i64,
    },
    // New variants go here, at the end.
}

/// What one websocket connection was sent since the previous checkpoint (see
/// `chorus_realtime::ConnectionCheckpoint`). Fields follow the append-only rule.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct ConnectionCheckpoint {
    pub connection_id: String,
    pub user_id: String,
    pub session_id: String,
    /// Stored changes recorded at or before this time (ms) have all been written to it.
    pub horizon: i64,
    pub first_seq: i64,
    pub next_seq: i64,
    /// `(seq, change key, change time)` of frames that announced a stored change.
    pub changes: Vec<(i64, String, i64)>,
    pub unrebuildable_seqs: Vec<i64>,
    pub gone: bool,
}

/// What a node knows of a websocket connection another node asked for. Variants and fields
/// follow the same append-only rule as [`ClusterMessage`].
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub enum ResumeAnswer {
    /// Not here.
    Unknown,
    /// Here, but frames the client missed are gone: it must resync.
    Lost,
    /// Here, and now given up: the frames sent from the client's `sequence_number` on, the
    /// events queued but not sent, and the `seq` of the next frame.
    HandedOver {
        sent: Vec<HandedOverEvent>,
        queued: Vec<HandedOverEvent>,
        next_seq: i64,
    },
    /// Not here, but its checkpoints are known here (the asker may have started after the
    /// connection did): what is known, so the asker can rebuild it if its node is gone.
    Recorded { record: ConnectionRecord },
}

/// What a node learnt of another node's websocket connection from its checkpoints. Fields
/// follow the append-only rule.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct ConnectionRecord {
    /// The node that sent the latest checkpoint.
    pub owner: String,
    pub user_id: String,
    pub session_id: String,
    pub horizon: i64,
    pub next_seq: i64,
    /// `(seq, change key, change time)`, in `seq` order, changes after the horizon only.
    pub changes: Vec<(i64, String, i64)>,
    pub unrebuildable_seqs: Vec<i64>,
    /// Frames up to this `seq` may include unrebuildable ones no longer listed.
    pub unrebuildable_floor: i64,
    /// More changes after the horizon than a node keeps: cannot be rebuilt.
    pub overflowed: bool,
}

/// One websocket event of a handed-over connection: its JSON without the closing brace (no
/// `seq`), and whether it may be dropped under pressure.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct HandedOverEvent {
    pub open_object: String,
    pub droppable: bool,
}

/// Receives the messages other nodes send to this one.
///
/// Called on the task reading the sender's stream: reliable messages of one sender arrive one
/// at a time, in the order they were sent, exactly once. Keep it short and non-blocking (hand
/// slow work to another task); a message is acknowledged once `handle` returns. A panic is
/// caught and logged, and the message counts as delivered.
pub trait MessageHandler: Send + Sync + 'static {
    fn handle(&self, from_node: &str, message: ClusterMessage);

    /// Reliable messages from `from_node` were lost: it gave up on them (its queue for this
    /// node was full, or it had forgotten this node after a long silence). Called before the
    /// next message of that sender is handled; whatever they would have changed here must be
    /// recovered another way (caches dropped, websocket clients resynced).
    fn messages_lost(&self, from_node: &str);
}

/// Where nodes of protocol version 1 carried `previous_post_at`: a key of the event's `data`,
/// which this version takes out before a client could see it.
const VERSION_1_PREVIOUS_POST_AT: &str = "chorus_previous_post_at";

impl ClusterMessage {
    /// The message as this version reads it, whichever version sent it: a version-1 node slips
    /// a `posted` event's `previous_post_at` into the event's JSON.
    pub(crate) fn from_any_version(self) -> ClusterMessage {
        match self {
            ClusterMessage::WebSocketEvent {
                event_json,
                previous_post_at: None,
            } if event_json.contains(VERSION_1_PREVIOUS_POST_AT) => {
                let (event_json, previous_post_at) = take_version_1_previous_post_at(event_json);
                ClusterMessage::WebSocketEvent {
                    event_json,
                    previous_post_at,
                }
            }
            other => other,
        }
    }
}

/// Takes `data.chorus_previous_post_at` out of a version-1 node's event JSON.
fn take_version_1_previous_post_at(event_json: String) -> (String, Option<i64>) {
    let Ok(mut event) = serde_json::from_str::<serde_json::Value>(&event_json) else {
        return (event_json, None);
    };
    let taken = event
        .get_mut("data")
        .and_then(serde_json::Value::as_object_mut)
        .and_then(|data| data.remove(VERSION_1_PREVIOUS_POST_AT));
    let Some(taken) = taken else {
        return (event_json, None);
    };
    match serde_json::to_string(&event) {
        Ok(cleaned) => (cleaned, taken.as_i64()),
        Err(_) => (event_json, None),
    }
}

/// Reads an `Option` appended to the end of a variant: `None` when the message ends before it
/// (it came from a node older than the field).
fn absent_is_none<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer).unwrap_or(None))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `ClusterMessage::WebSocketEvent` as protocol version 1 defined it.
    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    enum Version1Message {
        WebSocketEvent { event_json: String },
    }

    #[test]
    fn an_event_reads_the_same_across_protocol_versions_1_and_2() {
        let newer = ClusterMessage::WebSocketEvent {
            event_json: r#"{"event":"posted","data":{}}"#.to_string(),
            previous_post_at: Some(41),
        };
        let read_by_older: Version1Message =
            postcard::from_bytes(&postcard::to_stdvec(&newer).unwrap()).unwrap();
        assert_eq!(
            read_by_older,
            Version1Message::WebSocketEvent {
                event_json: r#"{"event":"posted","data":{}}"#.to_string()
            }
        );

        let older = Version1Message::WebSocketEvent {
            event_json:
                r#"{"event":"posted","data":{"post":"{}","chorus_previous_post_at":41},"seq":0}"#
                    .to_string(),
        };
        let read_by_newer: ClusterMessage =
            postcard::from_bytes(&postcard::to_stdvec(&older).unwrap()).unwrap();
        assert_eq!(
            read_by_newer.from_any_version(),
            ClusterMessage::WebSocketEvent {
                event_json: r#"{"event":"posted","data":{"post":"{}"},"seq":0}"#.to_string(),
                previous_post_at: Some(41),
            },
            "the previous post's create_at leaves the event's JSON"
        );
    }
}
