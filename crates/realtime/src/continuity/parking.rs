//! Parked connections: a connection whose socket ended, waiting for its client to resume.
//!
//! When a socket ends for any reason but the end of its session (close 1000 from logout or
//! revoke, 1008 expiry), the connection stays registered: events keep queuing for it, it no
//! longer counts for presence, and its `ConnectionState` (next `seq`, the last 128 frames
//! sent) waits here. A parked connection lives `HubConfig::resume_retention` (5 minutes),
//! holds at most `parked_queue_size` (1024) queued events, and a node keeps at most
//! `max_parked_connections` (100 000); past a limit it is dropped and its client resyncs.
//! Memory: a parked connection costs its handle and state (~0.5 KiB) plus at most 128 + 1024
//! pointers (~18 KiB) to events shared by every connection.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::time::Instant;

use crate::connection::ConnectionHandle;
use crate::continuity::overlap::Overlap;
use crate::frame::ConnectionState;

/// A connection without a socket: its handle stays registered (events keep queuing) and its
/// numbering state waits for the next socket.
pub(crate) struct Parked {
    pub(crate) handle: Arc<ConnectionHandle>,
    pub(crate) state: ConnectionState,
    /// Queued events its frames already announced (it parked while still skipping them).
    pub(crate) overlap: Overlap,
}

struct Spot {
    parked: Parked,
    since: Instant,
}

/// The parked connections of this node, by connection id.
pub(crate) struct ParkingLot {
    spots: Mutex<HashMap<String, Spot>>,
    capacity: usize,
}

impl ParkingLot {
    pub(crate) fn new(capacity: usize) -> Self {
        ParkingLot {
            spots: Mutex::new(HashMap::new()),
            capacity,
        }
    }

    /// Parks a connection when there is room and `mark_parked` (the registry's side of it)
    /// agrees. `mark_parked` runs with the lot locked, so a resume cannot look for the
    /// connection between the two. False when it was not parked: the caller lets it go.
    pub(crate) fn park(&self, parked: Parked, mark_parked: impl FnOnce() -> bool) -> bool {
        let mut spots = self.spots.lock();
        if spots.len() >= self.capacity || !mark_parked() {
            return false;
        }
        spots.insert(
            parked.handle.connection_id().to_string(),
            Spot {
                parked,
                since: Instant::now(),
            },
        );
        true
    }

    /// Takes out the parked connection `connection_id` if it belongs to session `session_id`.
    pub(crate) fn take(&self, connection_id: &str, session_id: &str) -> Option<Parked> {
        let mut spots = self.spots.lock();
        if spots.get(connection_id)?.parked.handle.session_id() != session_id {
            return None;
        }
        spots.remove(connection_id).map(|spot| spot.parked)
    }

    /// Forgets a parked connection (it can no longer be resumed).
    pub(crate) fn remove(&self, connection_id: &str) {
        self.spots.lock().remove(connection_id);
    }

    /// Takes out the connections parked for `retention` or longer.
    pub(crate) fn take_expired(&self, retention: Duration) -> Vec<Arc<ConnectionHandle>> {
        self.take_where(|spot| spot.since.elapsed() >= retention)
    }

    /// Takes out the connections whose queue holds an event a rebuild from the database
    /// cannot give (e.g. `channel_updated`).
    pub(crate) fn take_unrebuildable(&self) -> Vec<Arc<ConnectionHandle>> {
        self.take_where(|spot| spot.parked.handle.queue().holds_unrebuildable())
    }

    /// Takes out every parked connection.
    pub(crate) fn take_all(&self) -> Vec<Arc<ConnectionHandle>> {
        self.spots
            .lock()
            .drain()
            .map(|(_, spot)| spot.parked.handle)
            .collect()
    }

    fn take_where(&self, wanted: impl Fn(&Spot) -> bool) -> Vec<Arc<ConnectionHandle>> {
        let mut spots = self.spots.lock();
        let connection_ids: Vec<String> = spots
            .iter()
            .filter(|(_, spot)| wanted(spot))
            .map(|(connection_id, _)| connection_id.clone())
            .collect();
        connection_ids
            .iter()
            .filter_map(|connection_id| spots.remove(connection_id))
            .map(|spot| spot.parked.handle)
            .collect()
    }

    pub(crate) fn len(&self) -> usize {
        self.spots.lock().len()
    }
}
