//! When a connection pings, when its client counts as silent, when its session expires, and
//! what its client's pongs acknowledge.

use std::collections::VecDeque;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::ws::Message;
use chorus_model::now_millis;
use tokio::time::Instant;

use crate::config::HubConfig;

/// Frames written since the last ping after which a connection pings again, to learn sooner
/// what its client holds.
const ACK_PROBE_FRAMES: i64 = 64;

/// The shortest time between two such extra pings.
const ACK_PROBE_INTERVAL: Duration = Duration::from_secs(2);

/// Pings not answered yet that are remembered; an older one's answer is ignored.
const ACK_PROBES_OUTSTANDING: usize = 4;

/// Pings as acknowledgements. A client answers a ping only after reading every frame written
/// before it (one ordered stream), so its pong says which frames it holds: the connection's
/// checkpoint horizon moves up to `HubConfig::change_delivery_bound` before that ping. That keeps
/// what the other nodes must remember of a busy connection (the changes after its horizon)
/// to the last half minute instead of the last two. Besides the liveness pings, a connection
/// that wrote [`ACK_PROBE_FRAMES`] frames since its last ping sends one, at most every
/// [`ACK_PROBE_INTERVAL`].
#[derive(Debug, Default)]
pub(crate) struct AckProbes {
    last_id: u64,
    /// Oldest first.
    outstanding: VecDeque<AckProbe>,
    /// `next_seq` at the last ping, and the time of the last extra one.
    last_seq: i64,
    last_at: Option<Instant>,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct AckProbe {
    id: u64,
    /// The client holds the frames before this once it answers.
    pub(crate) next_seq: i64,
    /// When the ping was written (ms).
    pub(crate) sent_at: i64,
}

impl AckProbes {
    pub(crate) fn ping(&mut self, next_seq: i64) -> Message {
        self.last_id += 1;
        if self.outstanding.len() == ACK_PROBES_OUTSTANDING {
            self.outstanding.pop_front();
        }
        self.outstanding.push_back(AckProbe {
            id: self.last_id,
            next_seq,
            sent_at: now_millis(),
        });
        self.last_seq = next_seq;
        Message::Ping(Bytes::copy_from_slice(&self.last_id.to_be_bytes()))
    }

    /// A ping because frames piled up since the last one (see [`AckProbes::due`]).
    pub(crate) fn extra_ping(&mut self, next_seq: i64) -> Message {
        self.last_at = Some(Instant::now());
        self.ping(next_seq)
    }

    pub(crate) fn due(&self, next_seq: i64) -> bool {
        next_seq - self.last_seq >= ACK_PROBE_FRAMES
            && self
                .last_at
                .is_none_or(|at| at.elapsed() >= ACK_PROBE_INTERVAL)
    }

    /// The ping a pong answers, if it is one of ours (earlier ones are answered with it).
    pub(crate) fn answered(&mut self, payload: &[u8]) -> Option<AckProbe> {
        let id = u64::from_be_bytes(payload.try_into().ok()?);
        let position = self.outstanding.iter().position(|probe| probe.id == id)?;
        let probe = self.outstanding[position];
        self.outstanding.drain(..=position);
        Some(probe)
    }
}

/// What the connection's one timer found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Check {
    Fine,
    SendPing,
    ClientSilent,
    SessionExpired,
}

/// When to ping, when the client has been silent too long, when the session expires. The
/// timer is only moved when it fires, not on every frame heard: it fires at the earliest
/// deadline it knew of, and `check` then decides with fresh facts.
#[derive(Debug)]
pub(crate) struct Liveness {
    ping_interval: Duration,
    pong_timeout: Duration,
    last_heard: Instant,
    next_ping: Instant,
    session_expiry: Option<Instant>,
}

impl Liveness {
    pub(crate) fn new(now: Instant, config: &HubConfig, expires_at_millis: i64) -> Self {
        let session_expiry = if expires_at_millis == 0 {
            None
        } else {
            let remaining_millis = (expires_at_millis - now_millis()).max(0) as u64;
            now.checked_add(Duration::from_millis(remaining_millis))
        };
        Liveness {
            ping_interval: config.ping_interval,
            pong_timeout: config.pong_timeout,
            last_heard: now,
            next_ping: now + config.ping_interval,
            session_expiry,
        }
    }

    pub(crate) fn heard_from_client(&mut self, now: Instant) {
        self.last_heard = now;
    }

    fn silence_deadline(&self) -> Instant {
        self.last_heard + self.pong_timeout
    }

    pub(crate) fn next_check(&self) -> Instant {
        let mut at = self.next_ping.min(self.silence_deadline());
        if let Some(expiry) = self.session_expiry {
            at = at.min(expiry);
        }
        at
    }

    pub(crate) fn check(&mut self, now: Instant) -> Check {
        if self.session_expiry.is_some_and(|expiry| expiry <= now) {
            return Check::SessionExpired;
        }
        if self.silence_deadline() <= now {
            return Check::ClientSilent;
        }
        if self.next_ping <= now {
            self.next_ping = now + self.ping_interval;
            return Check::SendPing;
        }
        Check::Fine
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> HubConfig {
        HubConfig {
            ping_interval: Duration::from_secs(60),
            pong_timeout: Duration::from_secs(100),
            ..HubConfig::default()
        }
    }

    fn seconds(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn pings_every_interval_while_the_client_answers() {
        let start = Instant::now();
        let mut liveness = Liveness::new(start, &config(), 0);
        assert_eq!(liveness.next_check(), start + seconds(60));
        assert_eq!(liveness.check(start + seconds(30)), Check::Fine);
        assert_eq!(liveness.check(start + seconds(60)), Check::SendPing);
        liveness.heard_from_client(start + seconds(61)); // the pong
        assert_eq!(liveness.next_check(), start + seconds(120));
        assert_eq!(liveness.check(start + seconds(120)), Check::SendPing);
    }

    #[test]
    fn a_silent_client_is_found_after_the_pong_timeout() {
        let start = Instant::now();
        let mut liveness = Liveness::new(start, &config(), 0);
        assert_eq!(liveness.check(start + seconds(60)), Check::SendPing);
        assert_eq!(liveness.next_check(), start + seconds(100));
        assert_eq!(liveness.check(start + seconds(99)), Check::Fine);
        assert_eq!(liveness.check(start + seconds(100)), Check::ClientSilent);
    }

    #[test]
    fn an_expiring_session_sets_the_next_check() {
        let start = Instant::now();
        let expires_at = now_millis() + 10_000;
        let mut liveness = Liveness::new(start, &config(), expires_at);
        let next = liveness.next_check();
        assert!(
            next > start + seconds(9) && next <= start + seconds(10),
            "{next:?}"
        );
        assert_eq!(liveness.check(start + seconds(11)), Check::SessionExpired);
    }
}
