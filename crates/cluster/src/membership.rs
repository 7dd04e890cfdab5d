//! Who is in the cluster and who is alive, as this node sees it.
//!
//! Chitchat spreads every node's state (the keys below) and heartbeat by gossip. Failure
//! detection here is deliberately simple and predictable: a peer is alive while its heartbeat
//! keeps increasing, and down once it has not increased for `failure_timeout` (less the view's
//! refresh interval, so the report comes within `failure_timeout` of the last heartbeat). Heartbeats
//! advance several times per gossip interval, directly or through other peers, so with a 200 ms
//! interval and a 2 s timeout a peer must miss about ten rounds in a row to be reported down.
//!
//! Two things keep this from raising false alarms: a peer counts as joined only once its
//! heartbeat was seen moving (state relayed about a dead node never looks alive), and when this
//! node's own view task was stalled (an overloaded runtime, a paused process) the stall is not
//! blamed on the peers: their timers are moved forward by the length of the stall.

use crate::options::Readiness;
use chitchat::{Chitchat, ChitchatId, NodeState};
use std::collections::{HashMap, HashSet};
use std::time::Duration;
use tokio::time::Instant;

pub(crate) const KEY_NODE_ID: &str = "node_id";
pub(crate) const KEY_VERSION: &str = "version";
pub(crate) const KEY_SCHEMA_VERSION: &str = "schema_version";
pub(crate) const KEY_CONFIG_HASH: &str = "config_hash";
pub(crate) const KEY_API_ADDRESS: &str = "api_address";
pub(crate) const KEY_HOSTNAME: &str = "hostname";
pub(crate) const KEY_IP: &str = "ip";
pub(crate) const KEY_READINESS: &str = "readiness";
/// Set to "true" by a node that is stopping cleanly, just before it leaves.
pub(crate) const KEY_LEAVING: &str = "leaving";

/// A node as this node sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberInfo {
    pub node_id: String,
    pub hostname: String,
    pub ip: String,
    /// Where its gossip (UDP) and streams (TCP) listen, `ip:port`.
    pub gossip_address: String,
    pub api_address: String,
    pub version: String,
    pub schema_version: i32,
    pub config_hash: String,
    pub readiness: Readiness,
    /// False once no heartbeat arrived for `failure_timeout` (always true for this node).
    pub alive: bool,
    /// When its heartbeat last advanced (milliseconds since the epoch, this node's clock).
    pub last_seen_at: i64,
    /// This entry describes the local node.
    pub is_self: bool,
}

/// A change in membership, as seen by this node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MembershipEvent {
    /// A node was seen alive for the first time.
    Joined(MemberInfo),
    /// No heartbeat from it for `failure_timeout`.
    Down(MemberInfo),
    /// A down node's heartbeat advanced again (it was paused or cut off, same process).
    Up(MemberInfo),
    /// Gone: it stopped cleanly (`clean`), or it stayed down longer than the grace period
    /// and was forgotten.
    Left { member: MemberInfo, clean: bool },
    /// An alive node changed its published state (readiness, config hash…).
    Updated(MemberInfo),
}

struct Peer {
    chitchat_id: ChitchatId,
    heartbeat: u64,
    /// When the heartbeat was last seen advancing; None until it has been once.
    last_advance: Option<Instant>,
    max_version: u64,
    info: MemberInfo,
    /// A Joined event was emitted.
    announced: bool,
    down_since: Option<Instant>,
}

/// The membership view, updated from chitchat's state by [`MembershipView::update`].
pub(crate) struct MembershipView {
    pub self_info: MemberInfo,
    self_chitchat_id: ChitchatId,
    /// A peer whose heartbeat has not advanced for this long is down.
    silence_limit: Duration,
    dead_node_grace_period: Duration,
    peers: HashMap<String, Peer>,
    /// Nodes no longer tracked although chitchat may still hold their state: left cleanly
    /// (None: never again) or forgotten at some heartbeat (Some: back if it advances past it).
    departed: HashMap<String, Option<u64>>,
    last_update: Option<Instant>,
    stall_threshold: Duration,
}

impl MembershipView {
    pub fn new(
        self_info: MemberInfo,
        self_chitchat_id: ChitchatId,
        failure_timeout: Duration,
        gossip_interval: Duration,
        dead_node_grace_period: Duration,
        update_interval: Duration,
    ) -> MembershipView {
        MembershipView {
            self_info,
            self_chitchat_id,
            silence_limit: silence_limit(failure_timeout, gossip_interval, update_interval),
            dead_node_grace_period,
            peers: HashMap::new(),
            departed: HashMap::new(),
            last_update: None,
            // Late by more than this, the view task itself was not running.
            stall_threshold: (update_interval * 4).max(Duration::from_millis(250)),
        }
    }

    /// Every node known: this one first, then peers that joined, by id.
    pub fn members(&self) -> Vec<MemberInfo> {
        let mut peers: Vec<MemberInfo> = self
            .peers
            .values()
            .filter(|peer| peer.announced)
            .map(|peer| peer.info.clone())
            .collect();
        peers.sort_by(|left, right| left.node_id.cmp(&right.node_id));
        let mut members = Vec::with_capacity(peers.len() + 1);
        members.push(self.self_info.clone());
        members.extend(peers);
        members
    }

    pub fn member(&self, node_id: &str) -> Option<MemberInfo> {
        if node_id == self.self_info.node_id {
            return Some(self.self_info.clone());
        }
        self.peers
            .get(node_id)
            .filter(|peer| peer.announced)
            .map(|peer| peer.info.clone())
    }

    /// Compares chitchat's state with the view and returns what changed.
    pub fn update(&mut self, chitchat: &Chitchat, now: Instant) -> Vec<MembershipEvent> {
        self.compensate_for_stall(now);
        let now_millis = chorus_model::now_millis();
        let mut events = Vec::new();
        let mut present: HashSet<String> = HashSet::new();

        for (chitchat_id, state) in chitchat.node_states() {
            if *chitchat_id == self.self_chitchat_id {
                continue;
            }
            let node_id = chitchat_id.node_id.to_string();
            if node_id == self.self_info.node_id {
                continue;
            }
            let heartbeat = u64::from(state.heartbeat());
            present.insert(node_id.clone());

            if state.get(KEY_LEAVING) == Some("true") {
                if let Some(peer) = self.peers.remove(&node_id) {
                    if peer.announced {
                        let mut member = peer.info;
                        member.alive = false;
                        events.push(MembershipEvent::Left {
                            member,
                            clean: true,
                        });
                    }
                }
                self.departed.insert(node_id, None);
                continue;
            }
            match self.departed.get(&node_id) {
                Some(None) => continue,
                Some(Some(forgotten_at)) if heartbeat <= *forgotten_at => continue,
                Some(Some(_)) => {
                    self.departed.remove(&node_id);
                }
                None => {}
            }

            let peer = self.peers.entry(node_id.clone()).or_insert_with(|| Peer {
                chitchat_id: chitchat_id.clone(),
                heartbeat,
                last_advance: None,
                max_version: u64::MAX,
                info: MemberInfo {
                    node_id: node_id.clone(),
                    hostname: String::new(),
                    ip: String::new(),
                    gossip_address: chitchat_id.gossip_advertise_addr.to_string(),
                    api_address: String::new(),
                    version: String::new(),
                    schema_version: 0,
                    config_hash: String::new(),
                    readiness: Readiness::Serving,
                    alive: false,
                    last_seen_at: 0,
                    is_self: false,
                },
                announced: false,
                down_since: None,
            });
            if *chitchat_id != peer.chitchat_id {
                // Same node id, another generation or address: follow the newest.
                if chitchat_id.generation_id < peer.chitchat_id.generation_id {
                    continue;
                }
                peer.chitchat_id = chitchat_id.clone();
                peer.info.gossip_address = chitchat_id.gossip_advertise_addr.to_string();
                peer.max_version = u64::MAX;
            }
            if heartbeat > peer.heartbeat {
                peer.last_advance = Some(now);
                peer.info.last_seen_at = now_millis;
            }
            peer.heartbeat = heartbeat;

            let mut state_changed = false;
            if state.max_version() != peer.max_version {
                peer.max_version = state.max_version();
                state_changed = read_state(state, &mut peer.info);
            }
            let has_state = state.get(KEY_NODE_ID).is_some();
            let alive = has_state
                && peer
                    .last_advance
                    .is_some_and(|last| now.saturating_duration_since(last) < self.silence_limit);

            if !peer.announced {
                if alive {
                    peer.announced = true;
                    peer.info.alive = true;
                    events.push(MembershipEvent::Joined(peer.info.clone()));
                }
                continue;
            }
            if peer.info.alive && !alive {
                peer.info.alive = false;
                peer.down_since = Some(now);
                events.push(MembershipEvent::Down(peer.info.clone()));
            } else if !peer.info.alive && alive {
                peer.info.alive = true;
                peer.down_since = None;
                events.push(MembershipEvent::Up(peer.info.clone()));
            } else if alive && state_changed {
                events.push(MembershipEvent::Updated(peer.info.clone()));
            }
        }

        // Down for longer than the grace period, or no longer in chitchat's state: forgotten.
        let mut forgotten: Vec<String> = Vec::new();
        for (node_id, peer) in &self.peers {
            let expired = peer.down_since.is_some_and(|since| {
                now.saturating_duration_since(since) >= self.dead_node_grace_period
            });
            if expired || !present.contains(node_id) {
                forgotten.push(node_id.clone());
            }
        }
        for node_id in forgotten {
            if let Some(peer) = self.peers.remove(&node_id) {
                if present.contains(&node_id) {
                    self.departed.insert(node_id, Some(peer.heartbeat));
                }
                if peer.announced {
                    let mut member = peer.info;
                    member.alive = false;
                    events.push(MembershipEvent::Left {
                        member,
                        clean: false,
                    });
                }
            }
        }
        self.departed.retain(|node_id, _| present.contains(node_id));
        events
    }

    /// When this task ran late, the peers' silence during the gap says nothing about them.
    fn compensate_for_stall(&mut self, now: Instant) {
        if let Some(previous) = self.last_update {
            let gap = now.saturating_duration_since(previous);
            if gap > self.stall_threshold {
                tracing::info!(
                    stall_ms = gap.as_millis() as u64,
                    "membership view was stalled, not blaming peers for it"
                );
                for peer in self.peers.values_mut() {
                    if let Some(last) = peer.last_advance.as_mut() {
                        *last = (*last + gap).min(now);
                    }
                    if let Some(since) = peer.down_since.as_mut() {
                        *since = (*since + gap).min(now);
                    }
                }
            }
        }
        self.last_update = Some(now);
    }
}

/// How long a peer's heartbeat may stand still before it is reported down, so that the report
/// comes within `failure_timeout` of its death: the last heartbeat may reach this node up to a
/// gossip interval late (relayed by a third node), and the view notices a heartbeat, and later
/// the silence, up to one refresh late each.
fn silence_limit(
    failure_timeout: Duration,
    gossip_interval: Duration,
    update_interval: Duration,
) -> Duration {
    failure_timeout
        .saturating_sub(gossip_interval + update_interval * 2)
        .max(gossip_interval * 3)
}

/// Copies the published keys into `info`; returns whether anything visible changed.
fn read_state(state: &NodeState, info: &mut MemberInfo) -> bool {
    let before = info.clone();
    let text = |key: &str| state.get(key).unwrap_or_default().to_string();
    info.hostname = text(KEY_HOSTNAME);
    info.ip = text(KEY_IP);
    info.api_address = text(KEY_API_ADDRESS);
    info.version = text(KEY_VERSION);
    info.schema_version = state
        .get(KEY_SCHEMA_VERSION)
        .and_then(|value| value.parse().ok())
        .unwrap_or(0);
    info.config_hash = text(KEY_CONFIG_HASH);
    info.readiness = Readiness::parse(state.get(KEY_READINESS).unwrap_or_default());
    before != *info
}
