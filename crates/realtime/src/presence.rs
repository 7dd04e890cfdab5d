//! The registry behind its locks, telling the delegate when a user's first connection on this
//! node opens and its last one closes.
//!
//! Every change of the registry takes the presence lock first and keeps it while the delegate
//! hears of it, so `user_connected` and `user_disconnected` reach the delegate in the order the
//! registry changed (see `HubDelegate` for what the callbacks may do).

use std::sync::Arc;

use parking_lot::{Mutex, RwLock, RwLockReadGuard};

use crate::connection::ConnectionHandle;
use crate::delegate::HubDelegate;
use crate::registry::Registry;

pub(crate) struct PresenceRegistry {
    registry: RwLock<Registry>,
    /// Held across a registry change and its presence callback.
    presence: Mutex<()>,
    delegate: Arc<dyn HubDelegate>,
}

impl PresenceRegistry {
    pub(crate) fn new(delegate: Arc<dyn HubDelegate>) -> Self {
        PresenceRegistry {
            registry: RwLock::new(Registry::new()),
            presence: Mutex::new(()),
            delegate,
        }
    }

    /// The registry, for reading; it changes only through the methods below.
    pub(crate) fn read(&self) -> RwLockReadGuard<'_, Registry> {
        self.registry.read()
    }

    /// Registers an authenticated connection, returning what `mark` read while the registry
    /// was write-locked (so nothing dispatched falls between the two); None when the hub is
    /// shutting down.
    pub(crate) fn register(
        &self,
        handle: &Arc<ConnectionHandle>,
        mark: impl FnOnce() -> u64,
    ) -> Option<u64> {
        let _presence = self.presence.lock();
        let (first_of_user, mark) = {
            let mut registry = self.registry.write();
            if !registry.is_accepting() {
                return None;
            }
            let mark = mark();
            (registry.insert(Arc::clone(handle)), mark)
        };
        if first_of_user {
            self.delegate.user_connected(handle.user_id().to_string());
        }
        Some(mark)
    }

    /// Unregisters a connection; safe to call more than once.
    pub(crate) fn remove(&self, handle: &Arc<ConnectionHandle>) {
        let _presence = self.presence.lock();
        let removal = self.registry.write().remove(handle);
        if removal == Some(true) {
            self.delegate
                .user_disconnected(handle.user_id().to_string());
        }
    }

    /// Marks a registered, active connection parked: it stays registered but no longer counts
    /// as present. False when it cannot be parked (not registered, already parked, queue lost).
    pub(crate) fn park(&self, handle: &Arc<ConnectionHandle>) -> bool {
        let _presence = self.presence.lock();
        let Some(last_active) = self.registry.write().park(handle) else {
            return false;
        };
        if last_active {
            self.delegate
                .user_disconnected(handle.user_id().to_string());
        }
        true
    }

    /// Makes a parked connection active again. False when it is not registered and parked, or
    /// its queue was lost.
    pub(crate) fn unpark(&self, handle: &Arc<ConnectionHandle>) -> bool {
        let first_active = {
            let _presence = self.presence.lock();
            self.registry.write().unpark(handle)
        };
        match first_active {
            Some(first_active) => {
                if first_active {
                    self.delegate.user_connected(handle.user_id().to_string());
                }
                true
            }
            None => false,
        }
    }

    /// Stops registering new connections and returns every registered one.
    pub(crate) fn stop_accepting(&self) -> Vec<Arc<ConnectionHandle>> {
        let _presence = self.presence.lock();
        self.registry.write().stop_accepting()
    }
}
