//! What the hub's handle, its dispatchers and its connection tasks share: the configuration,
//! the two seams, the registry with presence, the parking lot, and (on clustered nodes) the
//! checkpoint log and the recent changes. Every change of a connection's place — registered,
//! parked, taken up again, gone — goes through here, so the registry, the lot and the
//! checkpoints agree.

use std::sync::{Arc, OnceLock};

use parking_lot::RwLockReadGuard;

use crate::config::HubConfig;
use crate::connection::{close_code, ConnectionHandle};
use crate::continuity::checkpoint::CheckpointLog;
use crate::continuity::parking::{Parked, ParkingLot};
use crate::continuity::recent::RecentChanges;
use crate::continuity::{Continuity, ResumeRequest, ResumeSource};
use crate::delegate::{ConnectionIdentity, HubDelegate};
use crate::presence::PresenceRegistry;
use crate::registry::Registry;

pub(crate) struct HubState {
    config: HubConfig,
    delegate: Arc<dyn HubDelegate>,
    /// Set once, after the hub is built (see `Hub::set_continuity`).
    continuity: OnceLock<Arc<dyn Continuity>>,
    connections: PresenceRegistry,
    /// Connections whose socket is gone, waiting for a resume.
    parking: ParkingLot,
    /// Present when `checkpoint_interval` is set.
    checkpoints: Option<CheckpointLog>,
    /// Present when `checkpoint_interval` is set (clustered nodes, where connections are
    /// handed over between nodes).
    recent: Option<RecentChanges>,
    /// How resumes ended, for metrics.
    resumes: ResumeCounters,
}

/// How resume attempts ended on this node, counted as they happen (see `hub::resume`).
#[derive(Default)]
pub(crate) struct ResumeCounters {
    pub(crate) local: std::sync::atomic::AtomicU64,
    pub(crate) handed_over: std::sync::atomic::AtomicU64,
    pub(crate) rebuilt: std::sync::atomic::AtomicU64,
    pub(crate) resync: std::sync::atomic::AtomicU64,
}

impl ResumeCounters {
    pub(crate) fn bump(counter: &std::sync::atomic::AtomicU64) {
        counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
}

impl HubState {
    pub(crate) fn resumes(&self) -> &ResumeCounters {
        &self.resumes
    }

    pub(crate) fn new(config: HubConfig, delegate: Arc<dyn HubDelegate>) -> Self {
        let checkpoints = config
            .checkpoint_interval
            .map(|_| CheckpointLog::new(config.pong_timeout + config.change_delivery_bound));
        let recent = config.checkpoint_interval.map(|_| RecentChanges::new());
        HubState {
            connections: PresenceRegistry::new(Arc::clone(&delegate)),
            parking: ParkingLot::new(config.max_parked_connections),
            checkpoints,
            recent,
            config,
            delegate,
            continuity: OnceLock::new(),
            resumes: ResumeCounters::default(),
        }
    }

    pub(crate) fn config(&self) -> &HubConfig {
        &self.config
    }

    pub(crate) fn delegate(&self) -> &dyn HubDelegate {
        self.delegate.as_ref()
    }

    pub(crate) fn checkpoints(&self) -> Option<&CheckpointLog> {
        self.checkpoints.as_ref()
    }

    pub(crate) fn recent(&self) -> Option<&RecentChanges> {
        self.recent.as_ref()
    }

    /// The registry, for reading.
    pub(crate) fn registry(&self) -> RwLockReadGuard<'_, Registry> {
        self.connections.read()
    }

    /// False when a continuity was set already.
    pub(crate) fn set_continuity(&self, continuity: Arc<dyn Continuity>) -> bool {
        self.continuity.set(continuity).is_ok()
    }

    /// Asks the continuity where a connection this node lacks is; unknown without one.
    pub(crate) async fn resume_elsewhere(&self, request: ResumeRequest) -> ResumeSource {
        match self.continuity.get() {
            Some(continuity) => continuity.resume_elsewhere(request).await,
            None => ResumeSource::Unknown,
        }
    }

    /// Hands what the writers recorded to the continuity (dropped without one) and lets them
    /// go.
    pub(crate) fn flush_checkpoints(&self) {
        let Some(checkpoints) = &self.checkpoints else {
            return;
        };
        checkpoints.flush(|batch| {
            if let Some(continuity) = self.continuity.get() {
                continuity.checkpoint(batch);
            }
        });
    }

    pub(crate) fn is_accepting(&self) -> bool {
        self.connections.read().is_accepting()
    }

    /// Registers an authenticated connection; false when the hub is shutting down.
    pub(crate) fn register(&self, handle: &Arc<ConnectionHandle>) -> bool {
        self.register_marked(handle).is_some()
    }

    /// [`HubState::register`], returning the `RecentChanges::mark` at the moment the
    /// connection was registered (0 without `recent`); None when the hub is shutting down.
    pub(crate) fn register_marked(&self, handle: &Arc<ConnectionHandle>) -> Option<u64> {
        self.connections.register(handle, || {
            self.recent.as_ref().map_or(0, RecentChanges::mark)
        })
    }

    /// Unregisters a connection for good; safe to call more than once.
    pub(crate) fn unregister(&self, handle: &Arc<ConnectionHandle>) {
        if let Some(checkpoints) = &self.checkpoints {
            checkpoints.forget(handle);
        }
        self.unregister_handed_over(handle);
    }

    /// Unregisters a connection that carries on at another node.
    pub(crate) fn unregister_handed_over(&self, handle: &Arc<ConnectionHandle>) {
        self.connections.remove(handle);
    }

    /// Stops delivering to a connection at once and tells its task to close with `code`; it
    /// cannot be resumed.
    pub(crate) fn evict(&self, handle: &Arc<ConnectionHandle>, code: u16) {
        handle.request_close(code);
        self.unregister(handle);
    }

    /// Evicts every connection `wanted` selects.
    pub(crate) fn evict_matching(&self, code: u16, wanted: impl FnMut(&ConnectionHandle) -> bool) {
        let handles: Vec<Arc<ConnectionHandle>> =
            self.connections.read().matching(wanted).cloned().collect();
        for handle in handles {
            self.evict(&handle, code);
        }
    }

    /// Keeps a connection whose socket ended for a resume: still registered, so events keep
    /// queuing, but not counted as present. Connections beyond `max_parked_connections`, or
    /// whose queue was already lost, are unregistered instead.
    pub(crate) fn park(&self, parked: Parked) {
        let handle = Arc::clone(&parked.handle);
        if !self.parking.park(parked, || self.connections.park(&handle)) {
            self.unregister(&handle);
        }
    }

    /// Takes up a parked connection of the session of `identity` for a new socket: active
    /// again, with its numbering state. None when there is no such parked connection or it
    /// cannot be resumed without loss (then it is gone).
    pub(crate) fn unpark(
        &self,
        connection_id: &str,
        identity: &ConnectionIdentity,
    ) -> Option<Parked> {
        let parked = self.parking.take(connection_id, &identity.session_id)?;
        if !self.connections.unpark(&parked.handle) {
            self.unregister(&parked.handle);
            return None;
        }
        parked.handle.reopen();
        Some(parked)
    }

    /// A parked connection whose queue overflowed its limit: it can no longer be resumed.
    pub(crate) fn forget_parked(&self, handle: &Arc<ConnectionHandle>) {
        self.parking.remove(handle.connection_id());
        self.unregister(handle);
    }

    /// Drops parked connections older than the retention.
    pub(crate) fn reap_parked(&self) {
        for handle in self.parking.take_expired(self.config.resume_retention) {
            self.unregister(&handle);
        }
    }

    /// Ends every parked connection for good; returns how many there were.
    pub(crate) fn end_all_parked(&self) -> usize {
        let parked = self.parking.take_all();
        let count = parked.len();
        for handle in parked {
            self.unregister(&handle);
        }
        count
    }

    /// Ends for good the parked connections whose queue holds an event that a rebuild from the
    /// database cannot give.
    pub(crate) fn end_parked_that_cannot_be_rebuilt(&self) {
        for handle in self.parking.take_unrebuildable() {
            self.unregister(&handle);
        }
    }

    pub(crate) fn parked_count(&self) -> usize {
        self.parking.len()
    }

    /// Stops registering connections; returns every registered one.
    pub(crate) fn stop_accepting(&self) -> Vec<Arc<ConnectionHandle>> {
        self.connections.stop_accepting()
    }

    /// What the client of this session's connection `connection_id` here has acknowledged
    /// holding (see `ConnectionHandle::acknowledged_next_seq`).
    pub(crate) fn acknowledged_next_seq(
        &self,
        connection_id: &str,
        identity: &ConnectionIdentity,
    ) -> Option<i64> {
        self.connections
            .read()
            .session_connections(identity, connection_id)
            .map(|handle| handle.acknowledged_next_seq())
            .max()
    }

    /// Asks the active connection `connection_id` of this session on this node, if any, to close
    /// so that it parks; true when there was one. A client that resumes while its old socket
    /// still looks open here (a half-open TCP connection) gets its state this way.
    pub(crate) fn close_for_takeover(
        &self,
        connection_id: &str,
        identity: &ConnectionIdentity,
    ) -> bool {
        let registry = self.connections.read();
        let Some(handle) = registry
            .session_connections(identity, connection_id)
            .find(|handle| !handle.is_parked())
            .cloned()
        else {
            return false;
        };
        drop(registry);
        handle.request_close(close_code::GOING_AWAY);
        true
    }
}
