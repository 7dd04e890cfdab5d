//! What the hub asks of the relay: resuming a connection it does not have (see `resume`) and
//! passing on what its connections are about to be sent (see `checkpoints`).

use crate::{Relay, RelayInner};
use chorus_realtime::{ConnectionCheckpoint, Continuity, ResumeRequest, ResumeSource};
use futures_util::future::BoxFuture;
use std::sync::{Arc, Weak};

impl Relay {
    /// The hub's way back to this relay, to give `Hub::set_continuity`. Holds a weak
    /// reference: the relay holds the hub.
    pub fn continuity(&self) -> Arc<dyn Continuity> {
        Arc::new(HubContinuity {
            relay: Arc::downgrade(&self.inner),
        })
    }
}

struct HubContinuity {
    relay: Weak<RelayInner>,
}

impl HubContinuity {
    fn relay(&self) -> Option<Relay> {
        self.relay.upgrade().map(|inner| Relay { inner })
    }
}

impl Continuity for HubContinuity {
    fn resume_elsewhere(&self, request: ResumeRequest) -> BoxFuture<'static, ResumeSource> {
        let relay = self.relay();
        Box::pin(async move {
            match relay {
                Some(relay) => relay.resume_elsewhere(request).await,
                None => ResumeSource::Unknown,
            }
        })
    }

    fn checkpoint(&self, batch: Vec<ConnectionCheckpoint>) {
        if let Some(relay) = self.relay() {
            relay.send_checkpoints(batch);
        }
    }
}
