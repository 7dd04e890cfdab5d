//! Events a resumed connection must not send twice.
//!
//! A connection resumed from elsewhere is registered here *before* its state is asked for, so
//! nothing published from then on is missed; what both places received in that moment must
//! arrive once. [`Overlap`] skips the live copies of events handed over (or rebuilt from the
//! database, or that the client already holds): an event is known by the stored change it
//! announces, else by its JSON, each key once, for 10 s.
//!
//! A parked connection keeps its `Overlap` (the live copies of replayed events it was still to
//! skip), so a connection whose client hung up during its resume is handed over or resumed
//! again without those copies.

use std::collections::HashMap;
use std::time::Duration;

use tokio::time::Instant;

use crate::frame::PreparedEvent;

/// Events a resumed connection must not send twice: the ones handed over with it (or rebuilt
/// from the database) that may also reach its new queue, because they were published while
/// both the old and the new place of the connection were receiving. An event is known by the
/// stored change it announces, else by its JSON; each key is skipped once, within a short
/// window.
#[derive(Debug, Default)]
pub(crate) struct Overlap {
    keys: HashMap<Box<str>, usize>,
    until: Option<Instant>,
}

/// Long enough for any event published before the handover to have reached this node.
const OVERLAP_WINDOW: Duration = Duration::from_secs(10);

impl Overlap {
    pub(crate) fn none() -> Self {
        Overlap::default()
    }

    pub(crate) fn of<'a>(events: impl IntoIterator<Item = &'a PreparedEvent>) -> Self {
        let mut keys: HashMap<Box<str>, usize> = HashMap::new();
        for event in events {
            *keys.entry(overlap_key(event).into()).or_default() += 1;
        }
        Overlap {
            keys,
            until: Some(Instant::now() + OVERLAP_WINDOW),
        }
    }

    /// Also skips, once each, the events announcing these changes (the client holds them).
    pub(crate) fn also_skip<'a>(&mut self, change_keys: impl IntoIterator<Item = &'a str>) {
        for key in change_keys {
            *self.keys.entry(key.into()).or_default() += 1;
        }
        if !self.keys.is_empty() && self.until.is_none() {
            self.until = Some(Instant::now() + OVERLAP_WINDOW);
        }
    }

    /// Whether `event` was already handed over (and so is not sent again).
    pub(crate) fn skips(&mut self, event: &PreparedEvent) -> bool {
        if self.keys.is_empty() {
            return false;
        }
        if self.until.is_some_and(|until| Instant::now() >= until) {
            self.keys = HashMap::new();
            return false;
        }
        let key = overlap_key(event);
        let Some(count) = self.keys.get_mut(key) else {
            return false;
        };
        *count -= 1;
        if *count == 0 {
            self.keys.remove(key);
        }
        true
    }
}

fn overlap_key(event: &PreparedEvent) -> &str {
    match event.change() {
        Some(change) => &change.key,
        None => event.open_object(),
    }
}
