//! A connection's queue of events not yet written, and the back-pressure it applies.
//!
//! Dispatchers offer events without ever waiting; the connection's writer takes them. Two
//! bounds keep a queue honest:
//!
//! - **While a socket is attached**, past `HubConfig::send_queue_size` (256) events the client
//!   is too slow: the offer reports [`Offer::Overflow`] and the connection is closed with 1013,
//!   but the event that overflowed is kept and the connection parks with its whole queue, so a
//!   resume delivers everything. Back-pressure never loses a post: only droppable events
//!   (`typing`, `status_change`, `channel_viewed`, `multiple_channels_viewed`) are skipped, from
//!   half full.
//! - **While parked** (socket gone, waiting for a resume), past `HubConfig::parked_queue_size`
//!   (1024) events the queue is dropped for good ([`Offer::Lost`]): the connection can no longer
//!   be resumed without loss, and its client resyncs.

use std::collections::VecDeque;
use std::sync::Arc;

use parking_lot::Mutex;
use tokio::sync::Notify;

use crate::frame::PreparedEvent;

/// Events waiting for a connection's writer.
#[derive(Debug)]
pub(crate) struct EventQueue {
    state: Mutex<QueueState>,
    ready: Notify,
}

#[derive(Debug)]
struct QueueState {
    events: VecDeque<Arc<PreparedEvent>>,
    /// While a socket is attached: past this many the client is too slow and is disconnected
    /// (the event is still kept, so nothing is lost).
    active_limit: usize,
    /// While parked: past this many the connection can no longer be resumed without loss.
    parked_limit: usize,
    parked: bool,
    /// Events were dropped for good: a resume must resync (new connection id).
    lost: bool,
}

/// What became of an event offered to a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Offer {
    Queued,
    /// A droppable event skipped because the connection's queue is at least half full.
    Dropped,
    /// Queued, but the queue is over its active limit: the client does not keep up and must be
    /// disconnected (its events wait for a resume).
    Overflow,
    /// A parked connection went past its limit: its queue is gone, it cannot be resumed.
    Lost,
}

impl EventQueue {
    /// `queue_size` bounds the queue while a socket is attached, `parked_queue_size` while
    /// parked (at least one more than `queue_size`, so a queue that closed its connection for
    /// being full still fits).
    pub(crate) fn new(queue_size: usize, parked_queue_size: usize) -> Self {
        let active_limit = queue_size.max(1);
        EventQueue {
            state: Mutex::new(QueueState {
                events: VecDeque::new(),
                active_limit,
                parked_limit: parked_queue_size.max(active_limit + 1),
                parked: false,
                lost: false,
            }),
            ready: Notify::new(),
        }
    }

    /// Queues `event` without waiting. Droppable events are skipped once the queue is half
    /// full (of its active limit), so that under pressure the room left goes to events that
    /// matter; the others are never dropped while the connection can still be resumed.
    pub(crate) fn offer(&self, event: &Arc<PreparedEvent>) -> Offer {
        let mut state = self.state.lock();
        if state.lost {
            return Offer::Lost;
        }
        let queued = state.events.len();
        if event.is_droppable() && queued * 2 >= state.active_limit {
            return Offer::Dropped;
        }
        if state.parked && queued >= state.parked_limit {
            state.lost = true;
            state.events = VecDeque::new();
            return Offer::Lost;
        }
        state.events.push_back(Arc::clone(event));
        let overflowed = !state.parked && queued >= state.active_limit;
        drop(state);
        self.ready.notify_one();
        if overflowed {
            Offer::Overflow
        } else {
            Offer::Queued
        }
    }

    /// The next queued event, waiting for one. Only the connection's task calls this.
    pub(crate) async fn next(&self) -> Arc<PreparedEvent> {
        loop {
            if let Some(event) = self.state.lock().events.pop_front() {
                return event;
            }
            self.ready.notified().await;
        }
    }

    /// The next queued event, if one is waiting.
    pub(crate) fn try_next(&self) -> Option<Arc<PreparedEvent>> {
        self.state.lock().events.pop_front()
    }

    /// Takes every queued event (a connection handed to another node).
    pub(crate) fn take_all(&self) -> Vec<Arc<PreparedEvent>> {
        self.state.lock().events.drain(..).collect()
    }

    /// Whether a queued event could not be rebuilt from the database (e.g. `channel_updated`).
    pub(crate) fn holds_unrebuildable(&self) -> bool {
        self.state
            .lock()
            .events
            .iter()
            .any(|event| event.change().is_none() && !event.is_droppable())
    }

    pub(crate) fn is_parked(&self) -> bool {
        self.state.lock().parked
    }

    /// Marks the queue's connection parked (no socket) or attached again. False when the
    /// queue was lost, which makes the connection useless to resume.
    pub(crate) fn set_parked(&self, parked: bool) -> bool {
        let mut state = self.state.lock();
        state.parked = parked;
        !state.lost
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chorus_model::{event_names, Broadcast, WebSocketEvent};

    fn prepared(event_name: &str) -> Arc<PreparedEvent> {
        Arc::new(PreparedEvent::new(&WebSocketEvent::new(
            event_name,
            Broadcast::to_everyone(),
        )))
    }

    fn take_one(queue: &EventQueue) {
        assert!(queue.try_next().is_some());
    }

    #[test]
    fn droppable_events_are_skipped_from_half_full_and_a_full_queue_overflows_keeping_the_event() {
        let queue = EventQueue::new(4, 6);
        let posted = prepared(event_names::POSTED);
        let typing = prepared(event_names::TYPING);
        let status = prepared(event_names::STATUS_CHANGE);

        assert_eq!(
            queue.offer(&typing),
            Offer::Queued,
            "empty queue takes anything"
        );
        assert_eq!(queue.offer(&posted), Offer::Queued);
        assert_eq!(
            queue.offer(&status),
            Offer::Dropped,
            "2 of 4 queued: half full"
        );
        assert_eq!(queue.offer(&posted), Offer::Queued);
        assert_eq!(queue.offer(&posted), Offer::Queued);
        assert_eq!(queue.offer(&posted), Offer::Overflow);
        assert_eq!(queue.take_all().len(), 5, "the overflowing event is kept");

        for _ in 0..3 {
            queue.offer(&posted);
        }
        take_one(&queue);
        assert_eq!(queue.offer(&typing), Offer::Dropped, "still half full");
        take_one(&queue);
        assert_eq!(queue.offer(&typing), Offer::Queued, "below half again");
    }

    #[test]
    fn a_parked_queue_grows_to_its_own_limit_then_is_lost() {
        let queue = EventQueue::new(4, 6);
        let posted = prepared(event_names::POSTED);
        assert!(queue.set_parked(true));
        for _ in 0..6 {
            assert_eq!(
                queue.offer(&posted),
                Offer::Queued,
                "no overflow while parked"
            );
        }
        assert_eq!(queue.offer(&posted), Offer::Lost);
        assert!(queue.take_all().is_empty(), "a lost queue is freed");
        assert_eq!(queue.offer(&posted), Offer::Lost);
        assert!(!queue.set_parked(false), "cannot be resumed");
    }
}
