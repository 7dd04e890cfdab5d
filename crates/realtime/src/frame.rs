//! Events as bytes on the wire, and the per-connection state that numbers them.
//!
//! An event is serialized once per publish into a [`PreparedEvent`]: the JSON object without
//! its closing brace. Each connection's writer then appends `,"seq":N}` when it actually sends
//! the frame, so `seq` is per connection, and an event dropped for one connection leaves no
//! gap in its sequence.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::sync::Arc;

use chorus_model::WebSocketEvent;

use crate::change::{change_of, Change};

/// How many sent events a connection remembers for a resume (Mattermost's dead queue size).
pub(crate) const RECENT_EVENTS: usize = 128;

/// One published event, serialized once and shared by every connection it goes to.
#[derive(Debug)]
pub(crate) struct PreparedEvent {
    /// `{"event":…,"data":…,"broadcast":…` — the JSON object without its closing `}`.
    open_object: Box<str>,
    droppable: bool,
    /// The stored change the event announces, if a rebuild from the database can reproduce it.
    change: Option<Change>,
}

impl PreparedEvent {
    pub(crate) fn new(event: &WebSocketEvent) -> Self {
        // Serializing cannot fail: every map key is a string and serde_json's `Value` holds no
        // non-finite numbers.
        let mut json = serde_json::to_string(event).expect("a websocket event always serializes");
        debug_assert!(json.ends_with('}'));
        json.pop();
        PreparedEvent {
            open_object: json.into_boxed_str(),
            droppable: event.is_droppable(),
            change: change_of(event),
        }
    }

    /// An event serialized by another node (`open_object` as [`PreparedEvent::open_object`]
    /// gives it), handed over with a connection.
    pub(crate) fn from_open_object(open_object: String, droppable: bool) -> Self {
        let change = serde_json::from_str::<WebSocketEvent>(&format!("{open_object}}}"))
            .ok()
            .and_then(|event| change_of(&event));
        PreparedEvent {
            open_object: open_object.into_boxed_str(),
            droppable,
            change,
        }
    }

    pub(crate) fn change(&self) -> Option<&Change> {
        self.change.as_ref()
    }

    /// The event's JSON without its closing brace (and without `seq`): what identifies the
    /// same publish on every node.
    pub(crate) fn open_object(&self) -> &str {
        &self.open_object
    }

    /// Whether a busy connection may skip this event (typing, status, channel viewed).
    pub(crate) fn is_droppable(&self) -> bool {
        self.droppable
    }

    /// The text frame for one connection: `{"event","data","broadcast","seq"}`.
    pub(crate) fn frame(&self, seq: i64) -> String {
        let mut text = String::with_capacity(self.open_object.len() + 28);
        text.push_str(&self.open_object);
        write!(text, ",\"seq\":{seq}}}").expect("writing to a String cannot fail");
        text
    }
}

/// What a connection is, apart from its socket: its id, the next `seq` it will send, and the
/// last [`RECENT_EVENTS`] events it sent.
///
/// Kept apart from the socket so that a later resume (reconnect with `connection_id` and
/// `sequence_number`) can park it when the socket drops and pick it up on the next socket.
#[derive(Debug)]
pub(crate) struct ConnectionState {
    connection_id: String,
    next_seq: i64,
    /// `(seq, event)`, oldest first. Grows on demand, so an idle connection costs nothing here.
    recent: VecDeque<(i64, Arc<PreparedEvent>)>,
}

impl ConnectionState {
    pub(crate) fn new(connection_id: String) -> Self {
        ConnectionState {
            connection_id,
            next_seq: 0,
            recent: VecDeque::new(),
        }
    }

    /// A connection taken over from another node: it sent `recent` (oldest first, with their
    /// `seq`) and numbers its next frame `next_seq`.
    pub(crate) fn resumed(
        connection_id: String,
        recent: Vec<(i64, Arc<PreparedEvent>)>,
        next_seq: i64,
    ) -> Self {
        let skip = recent.len().saturating_sub(RECENT_EVENTS);
        ConnectionState {
            connection_id,
            next_seq,
            recent: recent.into_iter().skip(skip).collect(),
        }
    }

    pub(crate) fn connection_id(&self) -> &str {
        &self.connection_id
    }

    pub(crate) fn next_seq(&self) -> i64 {
        self.next_seq
    }

    /// The remembered events from `seq` on, with their `seq`, if every one of them is still
    /// remembered: what a resuming client that expects `seq` next has missed (Mattermost's
    /// `sequence_number` is the next `seq` the client expects). None means loss (the client
    /// must resync).
    pub(crate) fn events_since(&self, seq: i64) -> Option<Vec<(i64, Arc<PreparedEvent>)>> {
        if seq == self.next_seq {
            return Some(Vec::new());
        }
        let oldest = self.recent.front()?.0;
        if seq < oldest || seq > self.next_seq {
            return None;
        }
        let skip = (seq - oldest) as usize;
        Some(self.recent.iter().skip(skip).cloned().collect())
    }

    /// Gives `event` the next `seq` and remembers it; returns the `seq`.
    pub(crate) fn number(&mut self, event: Arc<PreparedEvent>) -> i64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        if self.recent.len() == RECENT_EVENTS {
            self.recent.pop_front();
        }
        self.recent.push_back((seq, event));
        seq
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chorus_model::{event_names, Broadcast};
    use serde_json::Value;

    fn posted(n: i64) -> Arc<PreparedEvent> {
        let event =
            WebSocketEvent::new(event_names::POSTED, Broadcast::to_channel("c1")).with("n", n);
        Arc::new(PreparedEvent::new(&event))
    }

    #[test]
    fn frame_has_mattermost_field_order_with_seq_last() {
        let event = WebSocketEvent::new(event_names::TYPING, Broadcast::to_channel("c1"))
            .with("user_id", "u1");
        let frame = PreparedEvent::new(&event).frame(7);
        assert!(frame.starts_with(r#"{"event":"typing","data":{"user_id":"u1"},"broadcast":{"#));
        assert!(frame.ends_with(r#"},"seq":7}"#), "{frame}");
        let parsed: Value = serde_json::from_str(&frame).unwrap();
        assert_eq!(parsed["seq"], 7);
        assert_eq!(parsed["broadcast"]["channel_id"], "c1");
        assert_eq!(parsed["broadcast"]["omit_users"], Value::Null);
    }

    #[test]
    fn droppable_follows_the_event_name() {
        let typing = WebSocketEvent::new(event_names::TYPING, Broadcast::to_channel("c1"));
        assert!(PreparedEvent::new(&typing).is_droppable());
        assert!(!posted(1).is_droppable());
    }

    #[test]
    fn seq_counts_from_zero_without_gaps() {
        let mut state = ConnectionState::new("conn".into());
        for expected in 0..5 {
            let event = posted(expected);
            let seq = state.number(Arc::clone(&event));
            let frame: Value = serde_json::from_str(&event.frame(seq)).unwrap();
            assert_eq!(frame["seq"], expected);
            assert_eq!(frame["data"]["n"], expected);
        }
    }

    #[test]
    fn remembers_only_the_last_128_events() {
        let mut state = ConnectionState::new("conn".into());
        for n in 0..200 {
            state.number(posted(n));
        }
        assert!(state.events_since(200).unwrap().is_empty());
        let missed = state.events_since(190).unwrap();
        assert_eq!(missed.len(), 10);
        let first: Value = serde_json::from_str(&missed[0].1.frame(missed[0].0)).unwrap();
        assert_eq!(first["seq"], 190);
        assert_eq!(first["data"]["n"], 190);
        assert_eq!(state.events_since(72).unwrap().len(), 128);
        assert!(
            state.events_since(71).is_none(),
            "older than the ring buffer"
        );
        assert!(state.events_since(201).is_none(), "ahead of what was sent");
    }
}
