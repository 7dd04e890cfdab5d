//! RateLimitSettings, as Mattermost applies them: when `Enable` is set, every request (anonymous
//! ones included: ping, client config, login) is counted against a key built from the caller's
//! token (`VaryByUser`; requests without one fall back to the address), the client address
//! (`VaryByRemoteAddr`) and a header (`VaryByHeader`), at `PerSec` requests a second with bursts
//! of `MaxBurst` (GCRA, as Mattermost's throttled library computes it). With `VaryByUser`, an
//! authenticated request is also counted against its user id, whatever token it uses.
//! `MemoryStoreSize` keys are remembered, least recently used dropped first. Every counted
//! answer carries `X-RateLimit-Limit`, `X-RateLimit-Remaining` and `X-RateLimit-Reset`; a
//! refused one is a 429 with `Retry-After` (Mattermost answers the text "limit exceeded"; Chorus
//! the same message as an error body, like every other error).
//!
//! Password checks are limited harder, per client address: POST /users/login and
//! PUT /users/{id}/password get a tenth of the rate and of the burst (at least one a second and
//! a burst of one). They cost a password hash (~0.3 s of CPU) each, so that a client cannot
//! keep a node's cores busy hashing.
//!
//! The client address is the connection's peer, or, behind a proxy, the first address of the
//! first header of `ServiceSettings.TrustedProxyIPHeader` the request carries (Mattermost's
//! rule: headers are trusted only when the admin lists them).
//!
//! The limits are per node. A cluster-wide limiter would put a database or cluster round trip
//! on every request, the very cost the limits protect. The load balancer spreads one client's
//! requests over the nodes, so with N nodes a client gets up to N times the configured rate:
//! set PerSec and MaxBurst for one node's share.

use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chorus_config::{RateLimitSettings, ServiceSettings};
use chorus_model::{AppError, ErrorId};
use lru::LruCache;
use parking_lot::Mutex;

use crate::error::ApiError;
use crate::extract::request_token;

/// The limits of one node, built from the config when the router is.
pub(crate) struct RateLimiter {
    vary_by_user: bool,
    vary_by_remote_addr: bool,
    vary_by_header: Option<HeaderName>,
    trusted_proxy_ip_headers: Vec<HeaderName>,
    requests: Gcra,
    password_checks: Gcra,
}

impl RateLimiter {
    /// The limiter RateLimitSettings ask for, or None when rate limiting is off.
    pub(crate) fn from_settings(
        rate_limit: &RateLimitSettings,
        service: &ServiceSettings,
    ) -> Option<Arc<RateLimiter>> {
        if !rate_limit.enable {
            return None;
        }
        let per_second = rate_limit.per_sec.max(1) as u64;
        let max_burst = rate_limit.max_burst.max(0) as u64;
        let store_size = rate_limit.memory_store_size.max(1) as usize;
        Some(Arc::new(RateLimiter {
            vary_by_user: rate_limit.vary_by_user,
            vary_by_remote_addr: rate_limit.vary_by_remote_addr,
            vary_by_header: HeaderName::try_from(rate_limit.vary_by_header.trim()).ok(),
            trusted_proxy_ip_headers: service
                .trusted_proxy_ip_header
                .iter()
                .filter_map(|name| HeaderName::try_from(name.trim()).ok())
                .collect(),
            requests: Gcra::new(per_second, max_burst, store_size),
            password_checks: Gcra::new((per_second / 10).max(1), max_burst / 10, store_size),
        }))
    }

    /// The client's address: the first address of the first trusted proxy header present,
    /// else the connection's peer ("" when the server was not given peer addresses).
    fn client_address(&self, headers: &HeaderMap, peer: Option<SocketAddr>) -> String {
        for header_name in &self.trusted_proxy_ip_headers {
            let first_address = headers
                .get(header_name)
                .and_then(|value| value.to_str().ok())
                .and_then(|value| value.split_whitespace().next())
                .map(|address| address.trim_end_matches(','))
                .unwrap_or_default();
            if !first_address.is_empty() {
                return first_address.to_string();
            }
        }
        peer.map(|peer| peer.ip().to_string()).unwrap_or_default()
    }

    /// Mattermost's `GenerateKey`: the token (or, without one, the address) when VaryByUser,
    /// else the address when VaryByRemoteAddr; then the VaryByHeader value.
    fn request_key(&self, parts: &Parts, client_address: &str) -> String {
        let mut key = String::new();
        if self.vary_by_user {
            match request_token(parts) {
                Some(token) => key.push_str(&token),
                None if self.vary_by_remote_addr => key.push_str(client_address),
                None => {}
            }
        } else if self.vary_by_remote_addr {
            key.push_str(client_address);
        }
        if let Some(header_name) = &self.vary_by_header {
            let value = parts
                .headers
                .get(header_name)
                .and_then(|value| value.to_str().ok())
                .unwrap_or_default();
            key.push_str(&value.to_ascii_lowercase());
        }
        key
    }
}

/// What the middleware leaves in a request's extensions for the extractor that learns who the
/// caller is ([`UserRateLimit::check`]); the middleware reports that check's headers when
/// there was one.
pub(crate) struct UserRateLimit {
    limiter: Arc<RateLimiter>,
    decision: Mutex<Option<Decision>>,
}

impl UserRateLimit {
    /// With VaryByUser, counts an authenticated request against its user, whatever token it
    /// came with (Mattermost's `UserIdRateLimit`): Err is the 429 to answer.
    pub(crate) fn check(&self, user_id: &str) -> Result<(), ApiError> {
        if !self.limiter.vary_by_user {
            return Ok(());
        }
        let decision = self
            .limiter
            .requests
            .check(&format!("user:{user_id}"), Instant::now());
        let allowed = decision.allowed;
        *self.decision.lock() = Some(decision);
        if allowed {
            Ok(())
        } else {
            Err(too_many_requests().into())
        }
    }
}

/// Whether a request checks a password (and so costs a hash).
fn checks_a_password(method: &Method, path: &str) -> bool {
    (method == Method::POST && path == "/api/v4/users/login")
        || (method == Method::PUT
            && path.starts_with("/api/v4/users/")
            && path.ends_with("/password"))
}

fn too_many_requests() -> AppError {
    AppError::from(ErrorId::RateLimitExceeded)
}

/// The middleware: counts the request, answers 429 when over the limit, and puts the limiter in
/// the request's extensions for [`RateLimiter::limit_user`] once the caller is known.
pub(crate) async fn limit(
    State(limiter): State<Arc<RateLimiter>>,
    request: Request,
    next: Next,
) -> Response {
    let (mut parts, body) = request.into_parts();
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|connect_info| connect_info.0);
    let client_address = limiter.client_address(&parts.headers, peer);
    let now = Instant::now();
    if checks_a_password(&parts.method, parts.uri.path()) {
        let decision = limiter.password_checks.check(&client_address, now);
        if !decision.allowed {
            tracing::info!(
                client_address,
                path = parts.uri.path(),
                "password checks over the rate limit refused"
            );
            return refusal(&decision);
        }
    }
    let key = limiter.request_key(&parts, &client_address);
    let decision = limiter.requests.check(&key, now);
    if !decision.allowed {
        tracing::debug!(client_address, "request over the rate limit refused");
        return refusal(&decision);
    }
    let user_rate_limit = Arc::new(UserRateLimit {
        limiter: limiter.clone(),
        decision: Mutex::new(None),
    });
    parts.extensions.insert(user_rate_limit.clone());
    let mut response = next.run(Request::from_parts(parts, body)).await;
    let user_decision = user_rate_limit.decision.lock().take();
    let reported = user_decision.as_ref().unwrap_or(&decision);
    for (name, value) in reported.headers() {
        response.headers_mut().insert(name, value);
    }
    response
}

/// The 429 for a refused request, with its headers.
fn refusal(decision: &Decision) -> Response {
    let mut response = ApiError::from(too_many_requests()).into_response();
    for (name, value) in decision.headers() {
        response.headers_mut().insert(name, value);
    }
    response
}

/// A generic cell rate algorithm limiter over a bounded LRU map of keys (Mattermost's
/// throttled `GCRARateLimiter` on a `memstore` of `MemoryStoreSize`).
///
/// Each key stores its theoretical arrival time (TAT): when its bucket would be empty again.
/// A request is allowed when, after adding one emission interval (1 s / rate), the TAT is no
/// further ahead of now than the burst allows; a forgotten key starts with a full burst, so
/// dropping the least recently used keys only ever lets a request through, never refuses one.
struct Gcra {
    emission_interval: Duration,
    /// How far ahead of now a TAT may run: (burst + 1) emission intervals.
    delay_variation_tolerance: Duration,
    limit: u64,
    arrival_times: Mutex<LruCache<String, Instant>>,
}

/// The outcome of [`Gcra::check`], with what the headers report.
struct Decision {
    allowed: bool,
    limit: u64,
    remaining: u64,
    reset_after: Duration,
    retry_after: Option<Duration>,
}

impl Decision {
    fn headers(&self) -> Vec<(HeaderName, HeaderValue)> {
        let seconds = |duration: Duration| duration.as_secs_f64().ceil() as u64;
        let mut headers = vec![
            (
                HeaderName::from_static("x-ratelimit-limit"),
                HeaderValue::from(self.limit),
            ),
            (
                HeaderName::from_static("x-ratelimit-remaining"),
                HeaderValue::from(self.remaining),
            ),
            (
                HeaderName::from_static("x-ratelimit-reset"),
                HeaderValue::from(seconds(self.reset_after)),
            ),
        ];
        if let Some(retry_after) = self.retry_after {
            headers.push((
                axum::http::header::RETRY_AFTER,
                HeaderValue::from(seconds(retry_after)),
            ));
        }
        headers
    }
}

impl Gcra {
    fn new(per_second: u64, max_burst: u64, store_size: usize) -> Gcra {
        let emission_interval = Duration::from_nanos((1_000_000_000 / per_second.max(1)).max(1));
        let burst_and_one = u32::try_from(max_burst.saturating_add(1)).unwrap_or(u32::MAX);
        Gcra {
            emission_interval,
            delay_variation_tolerance: emission_interval.saturating_mul(burst_and_one),
            limit: u64::from(burst_and_one),
            arrival_times: Mutex::new(LruCache::new(
                NonZeroUsize::new(store_size).unwrap_or(NonZeroUsize::MIN),
            )),
        }
    }

    fn check(&self, key: &str, now: Instant) -> Decision {
        let mut arrival_times = self.arrival_times.lock();
        let stored_arrival_time = arrival_times.get(key).copied().unwrap_or(now);
        let arrival_time = stored_arrival_time.max(now);
        let new_arrival_time = arrival_time + self.emission_interval;
        // The earliest instant this request may be allowed at.
        let allowed_from = new_arrival_time
            .checked_sub(self.delay_variation_tolerance)
            .unwrap_or(now);
        if allowed_from > now {
            return Decision {
                allowed: false,
                limit: self.limit,
                remaining: 0,
                reset_after: arrival_time - now,
                retry_after: Some(allowed_from - now),
            };
        }
        arrival_times.put(key.to_string(), new_arrival_time);
        let slack = now - allowed_from;
        Decision {
            allowed: true,
            limit: self.limit,
            remaining: (slack.as_nanos() / self.emission_interval.as_nanos().max(1)) as u64,
            reset_after: new_arrival_time - now,
            retry_after: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_passes_then_the_rate_holds() {
        let limiter = Gcra::new(10, 4, 100);
        let start = Instant::now();
        let mut allowed = 0;
        for _ in 0..20 {
            if limiter.check("client", start).allowed {
                allowed += 1;
            }
        }
        assert_eq!(allowed, 5, "the burst plus one");
        let refused = limiter.check("client", start);
        assert_eq!(refused.remaining, 0);
        assert_eq!(refused.retry_after, Some(Duration::from_millis(100)));
        assert!(
            limiter
                .check("client", start + Duration::from_millis(100))
                .allowed
        );
        assert!(
            !limiter
                .check("client", start + Duration::from_millis(100))
                .allowed
        );
        assert!(
            limiter.check("another client", start).allowed,
            "keys are apart"
        );
    }

    #[test]
    fn remaining_counts_down_and_forgotten_keys_start_afresh() {
        let limiter = Gcra::new(1, 2, 1);
        let start = Instant::now();
        assert_eq!(limiter.check("a", start).remaining, 2);
        assert_eq!(limiter.check("a", start).remaining, 1);
        assert_eq!(limiter.check("a", start).remaining, 0);
        assert!(!limiter.check("a", start).allowed);
        // A store of one key: "b" pushes "a" out, which then starts with a full burst.
        assert!(limiter.check("b", start).allowed);
        assert_eq!(limiter.check("a", start).remaining, 2);
    }
}
