//! Resuming a websocket connection that is not on this node (`?connection_id=X&sequence_number=N`
//! for a connection parked on another node, or whose node died). The hub registers X here
//! *before* asking, so nothing published from then on is missed, then asks the relay
//! ([`Relay::resume_elsewhere`]): it sends `ClusterMessage::ResumeRequest` to every live peer;
//! the holder hands the connection over (`ResumeAnswer::HandedOver`: frames sent from N on,
//! events queued, next `seq`, as Mattermost's `GetWSQueues`) and drops X. When none holds it, it
//! is rebuilt from the database (see `rebuild`) with the most advanced checkpoint record of it:
//! this node's, or a peer's (`ResumeAnswer::Recorded`) when this node has none (it started
//! after the connection did) or an older one.
//!
//! Waiting: at most [`RESUME_ANSWER_TIMEOUT`] for the answers, but not for a peer that has had
//! no open cluster stream from here for [`UNLINKED_GRACE`]: a killed node's streams close at
//! once, so its clients resume (from the database) in ~0.3 s instead of waiting for gossip or
//! the timeout. The grace runs from when the stream closed (`Cluster::unlinked_for`), so in a
//! reconnect storm only the first resumes wait it. A paused or cut-off node still costs the
//! timeout.
//!
//! The cut between the two nodes is not clean by itself: an event reaches them at different
//! moments (a post held for its predecessor, a slower link). So the answer is completed with
//! what the client holds, from this node's `CheckpointBook` (the old node's checkpoints arrive
//! before its answer, on the same link): the hub then adds what it dispatched *before* the
//! registration that the client lacks and the old node had not queued (`realtime::recent`), and
//! skips what the client holds should it dispatch it late. A rebuild skips those too.
//!
//! Admission: when a node dies, its clients come back all at once. Resumes that need other
//! nodes take one of [`RESUMES_AT_ONCE`] permits; the others wait (up to [`ADMISSION_WAIT`])
//! instead of failing, so a storm is served at the pace this node and its peers sustain;
//! after that the client resyncs. Resumes of connections parked here need no permit (no I/O)
//! and never reach this module.

use crate::Relay;
use chorus_cluster::{ClusterMessage, ConnectionRecord, HandedOverEvent, ResumeAnswer};
use chorus_realtime::{self as realtime, ResumeRequest, ResumeSource};
use std::collections::HashSet;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// How long a resume waits for the other nodes' answers. A node that has the connection
/// answers within its takeover time (about a second at worst, when it first has to close a
/// socket that still looked open).
const RESUME_ANSWER_TIMEOUT: Duration = Duration::from_secs(2);

/// How long a peer that has not answered must have had no stream from this node before a
/// resume stops waiting for it (a link that broke by chance is made again within 50 ms).
const UNLINKED_GRACE: Duration = Duration::from_millis(100);

/// How often a resume waiting for answers looks at the links.
const LINK_POLL: Duration = Duration::from_millis(20);

/// Resumes from elsewhere served at the same time by one node.
pub(crate) const RESUMES_AT_ONCE: usize = 16;

/// How long a resume waits for its turn before its client is told to resync instead.
const ADMISSION_WAIT: Duration = Duration::from_secs(10);

impl Relay {
    /// Asks every other live node for the connection; the one holding it hands it over. When
    /// none has it and it belonged to a node that is gone (or does not answer), it is rebuilt
    /// from the database (see `rebuild`).
    pub(crate) async fn resume_elsewhere(&self, request: ResumeRequest) -> ResumeSource {
        let Some(cluster) = self.cluster() else {
            return ResumeSource::Unknown;
        };
        let own_id = cluster.node_id().to_string();
        let peers: Vec<String> = cluster
            .alive_node_ids()
            .into_iter()
            .filter(|node_id| *node_id != own_id)
            .collect();
        let mut owner = self.checkpointed_owner(&request.connection_id);
        if peers.is_empty() && owner.is_none() {
            return ResumeSource::Unknown;
        }
        let admission = self.inner.resume_admission.acquire();
        let Ok(Ok(_permit)) = tokio::time::timeout(ADMISSION_WAIT, admission).await else {
            tracing::warn!(connection_id = %request.connection_id, "websocket resume not admitted in time; the client resyncs");
            return ResumeSource::Unknown;
        };
        let answers = self.ask_peers(&peers, &request).await;
        if let Some(found) = answers.found {
            // The old node's checkpoints arrived here before its answer.
            let passed = self.passed_posts_for(&request.user_id).await;
            return found
                .with_received(self.received_changes(&request))
                .with_passed(passed);
        }
        // A peer's record stands in for this node's when it has none (it started after the
        // connection did) or an older one (the dead node's last checkpoints reached the peer
        // and not here): the client then resumes exactly instead of resyncing.
        if let Some(record) = answers.record {
            if let Some(kept_owner) = self.adopt_connection_record(&request.connection_id, record) {
                owner = Some(kept_owner);
            }
        }
        match owner {
            Some(owner) if !answers.without_it.contains(&owner) => {
                self.rebuild_connection(&request).await
            }
            // Its node is alive and no longer has it: it ended for good.
            _ => ResumeSource::Unknown,
        }
    }

    /// Sends the resume request to `peers` and gathers their answers.
    async fn ask_peers(&self, peers: &[String], request: &ResumeRequest) -> PeerAnswers {
        let mut answers = PeerAnswers::default();
        let Some(cluster) = self.cluster() else {
            return answers;
        };
        if peers.is_empty() {
            return answers;
        }
        let request_id = chorus_model::new_id();
        let (sender, mut received) = mpsc::unbounded_channel();
        self.inner
            .resume_queries
            .lock()
            .insert(request_id.clone(), sender);
        for peer in peers {
            cluster.send_reliable_to(
                peer,
                ClusterMessage::ResumeRequest {
                    request_id: request_id.clone(),
                    connection_id: request.connection_id.clone(),
                    user_id: request.user_id.clone(),
                    session_id: request.session_id.clone(),
                    sequence_number: request.sequence_number,
                },
            );
        }
        // A peer that does not answer is waited for up to the timeout (it may be paused or cut
        // off), unless it has no stream from here: a killed node's streams close at once, so
        // its clients resume without waiting for gossip to declare it dead.
        let started = Instant::now();
        let mut poll = tokio::time::interval(LINK_POLL);
        loop {
            tokio::select! {
                answer = received.recv() => {
                    let Some((from_node, answer)) = answer else { break };
                    match answer {
                        ResumeAnswer::Unknown => {}
                        ResumeAnswer::Recorded { record } => {
                            if answers.record.as_ref().is_none_or(|kept| kept.next_seq < record.next_seq) {
                                answers.record = Some(record);
                            }
                        }
                        known => {
                            answers.found = Some(resume_source(known));
                            break;
                        }
                    }
                    answers.without_it.insert(from_node);
                    if answers.without_it.len() == peers.len() {
                        break;
                    }
                }
                _ = poll.tick() => {
                    if started.elapsed() >= RESUME_ANSWER_TIMEOUT {
                        tracing::warn!(connection_id = %request.connection_id, "not every node answered a websocket resume in time");
                        break;
                    }
                    // Since the stream closed, not since this resume began: in a storm the
                    // dead node's grace is over for all but the first resumes.
                    let silent: Vec<&String> = peers
                        .iter()
                        .filter(|peer| !answers.without_it.contains(*peer))
                        .collect();
                    let unreachable = silent.iter().all(|peer| {
                        cluster
                            .unlinked_for(peer)
                            .is_some_and(|unlinked| unlinked >= UNLINKED_GRACE)
                    });
                    if unreachable {
                        tracing::info!(connection_id = %request.connection_id, ?silent, "websocket resume goes on without unreachable nodes");
                        break;
                    }
                }
            }
        }
        self.inner.resume_queries.lock().remove(&request_id);
        answers
    }

    /// Another node's client resumed a connection: hand it over if it is here, and answer.
    pub(crate) fn answer_resume_request(
        &self,
        from_node: &str,
        request_id: String,
        request: ResumeRequest,
    ) {
        let relay = self.clone();
        let from_node = from_node.to_string();
        tokio::spawn(async move {
            let answer = match resume_answer(relay.inner.hub.hand_over(&request).await) {
                ResumeAnswer::Unknown => match relay.connection_record(&request.connection_id) {
                    Some(record) => ResumeAnswer::Recorded { record },
                    None => ResumeAnswer::Unknown,
                },
                answer => answer,
            };
            if let Some(cluster) = relay.cluster() {
                cluster.send_reliable_to(
                    &from_node,
                    ClusterMessage::ResumeAnswer { request_id, answer },
                );
            }
        });
    }

    pub(crate) fn receive_resume_answer(
        &self,
        from_node: &str,
        request_id: &str,
        answer: ResumeAnswer,
    ) {
        if let Some(waiter) = self.inner.resume_queries.lock().get(request_id) {
            let _ = waiter.send((from_node.to_string(), answer));
        }
    }
}

/// What the peers asked for a connection said.
#[derive(Default)]
struct PeerAnswers {
    /// The connection, from the peer that held it.
    found: Option<ResumeSource>,
    /// Peers that answered they do not hold it.
    without_it: HashSet<String>,
    /// The most advanced of the peers' records of its checkpoints (the highest `next_seq`).
    record: Option<ConnectionRecord>,
}

fn resume_answer(source: ResumeSource) -> ResumeAnswer {
    let to_wire = |events: Vec<realtime::HandedOverEvent>| {
        events
            .into_iter()
            .map(|event| HandedOverEvent {
                open_object: event.open_object,
                droppable: event.droppable,
            })
            .collect()
    };
    match source {
        ResumeSource::Unknown => ResumeAnswer::Unknown,
        // A hand-over never rebuilds; were it to, the asking node could not use it.
        ResumeSource::Lost | ResumeSource::Rebuilt { .. } => ResumeAnswer::Lost,
        ResumeSource::HandedOver {
            sent,
            queued,
            next_seq,
            received: _,
            passed: _,
        } => ResumeAnswer::HandedOver {
            sent: to_wire(sent),
            queued: to_wire(queued),
            next_seq,
        },
    }
}

fn resume_source(answer: ResumeAnswer) -> ResumeSource {
    let from_wire = |events: Vec<HandedOverEvent>| {
        events
            .into_iter()
            .map(|event| realtime::HandedOverEvent {
                open_object: event.open_object,
                droppable: event.droppable,
            })
            .collect()
    };
    match answer {
        ResumeAnswer::Unknown | ResumeAnswer::Recorded { .. } => ResumeSource::Unknown,
        ResumeAnswer::Lost => ResumeSource::Lost,
        ResumeAnswer::HandedOver {
            sent,
            queued,
            next_seq,
        } => ResumeSource::HandedOver {
            sent: from_wire(sent),
            queued: from_wire(queued),
            next_seq,
            received: None,
            passed: Vec::new(),
        },
    }
}
