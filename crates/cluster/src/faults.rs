use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tokio::sync::watch;

/// Fault hooks for tests and the fault harness: what a network fault does to this node, without
/// touching the machine's network.
#[derive(Clone)]
pub struct FaultInjector {
    pub(crate) state: Arc<FaultState>,
}

impl FaultInjector {
    /// Closes every node-to-node stream of this node at once, in both directions, as a network
    /// blip would. Peers and this node reconnect and resend what was not acknowledged.
    pub fn cut_connections(&self) {
        self.state.cut.send_modify(|generation| *generation += 1);
    }

    /// Cuts this node off the network (or reconnects it): gossip in and out is dropped, streams
    /// are closed and new ones refused. Others see it down; it sees them down; after
    /// `set_isolated(false)` everyone comes back up with the same node ids.
    pub fn set_isolated(&self, isolated: bool) {
        self.state.isolated.store(isolated, Ordering::SeqCst);
        if isolated {
            self.cut_connections();
        }
    }
}

pub(crate) struct FaultState {
    isolated: AtomicBool,
    cut: watch::Sender<u64>,
}

impl FaultState {
    pub fn new() -> FaultState {
        let (cut, _) = watch::channel(0);
        FaultState {
            isolated: AtomicBool::new(false),
            cut,
        }
    }

    pub fn is_isolated(&self) -> bool {
        self.isolated.load(Ordering::Relaxed)
    }

    /// A receiver whose `changed()` fires when connections must be cut.
    pub fn cut_signal(&self) -> watch::Receiver<u64> {
        self.cut.subscribe()
    }
}
