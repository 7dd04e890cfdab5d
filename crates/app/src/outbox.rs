//! The outbox worker: makes the outgoing webhook deliveries that posts queued in their own
//! commit (`chorus_store::integrations`), exactly once per acknowledgement across the cluster.
//!
//! Every node runs one. It claims due deliveries atomically under a lease (the request
//! timeout plus [`LEASE_MARGIN`], by the database clock), so a node killed mid-call leaves its
//! claims to another node once they expire. Each attempt POSTs the payload with an
//! `Idempotency-Key: <delivery id>` header — the same for every attempt of a delivery, so a
//! receiver that saw it already can drop the repeat a node's death may cause. A 2xx answer
//! acknowledges; the answer's text is posted back with the delivery id as `pending_post_id`,
//! so a repeated attempt posts it once. 5xx, 408, 429 and network errors are retried with
//! exponential backoff up to [`MAX_ATTEMPTS`]; other answers give up at once; both record why.
//!
//! Calls go only to addresses ServiceSettings.AllowedUntrustedInternalConnections allows when
//! they are loopback, private or link-local (as in Mattermost); the connection is made to the
//! addresses that were checked, redirects are not followed, answers are read up to
//! [`MAX_RESPONSE_BYTES`].

use crate::integrations::{slack_links_to_markdown, webhook_post_props};
use crate::App;
use chorus_model::{OutgoingWebhookPayload, OutgoingWebhookResponse, Post, CONTENT_TYPE_JSON};
use chorus_store::integrations::{self as integration_store, ClaimedDelivery};
use chorus_store::{posts as post_store, teams as team_store};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

/// How often a node looks for due deliveries queued by other nodes (its own posts wake it).
const POLL_INTERVAL: Duration = Duration::from_millis(200);
/// Deliveries a node makes at once.
const CONCURRENCY: usize = 32;
/// Attempts before a delivery is given up.
pub const MAX_ATTEMPTS: i32 = 8;
/// Mattermost's MaxIntegrationResponseSize.
pub(crate) const MAX_RESPONSE_BYTES: usize = 1024 * 1024;
/// A claim outlives the request timeout by this much before another node may take it.
const LEASE_MARGIN: Duration = Duration::from_secs(5);

/// The outcome of one attempt.
enum Attempt {
    /// The receiver answered 2xx; maybe with something to post back.
    Acknowledged {
        status: u16,
        response: Option<Box<OutgoingWebhookResponse>>,
    },
    /// Worth another attempt later.
    Retry { status: u16, error: String },
    /// Never worth another attempt.
    GiveUp { status: u16, error: String },
}

impl App {
    /// Tells this node's worker that deliveries were queued.
    pub(crate) fn wake_outbox(&self) {
        self.inner.outbox_wake.notify_one();
    }

    /// Starts this node's outbox worker. It stops claiming when the node drains and ends when
    /// the app is dropped.
    pub fn start_outbox_worker(&self) -> tokio::task::JoinHandle<()> {
        let weak = Arc::downgrade(&self.inner);
        let wake = self.inner.outbox_wake.clone();
        let slots = Arc::new(tokio::sync::Semaphore::new(CONCURRENCY));
        tokio::spawn(async move {
            loop {
                let woken = wake.notified();
                {
                    let Some(inner) = weak.upgrade() else { return };
                    let app = App::from_inner(inner);
                    if !app.is_draining() && slots.available_permits() > 0 {
                        app.claim_and_deliver(&slots).await;
                    }
                }
                tokio::select! {
                    _ = woken => {}
                    _ = tokio::time::sleep(POLL_INTERVAL) => {}
                }
            }
        })
    }

    async fn claim_and_deliver(&self, slots: &Arc<tokio::sync::Semaphore>) {
        let timeout = self.outgoing_timeout();
        let node_id = self.node().node_id.clone();
        let claimed = match self.store().master().await {
            Ok(db) => {
                integration_store::claim_due_deliveries(
                    &db,
                    &node_id,
                    timeout + LEASE_MARGIN,
                    slots.available_permits() as i64,
                )
                .await
            }
            Err(error) => Err(error),
        };
        let claimed = match claimed {
            Ok(claimed) => claimed,
            Err(error) => {
                tracing::warn!(error = %error, "outbox: claiming deliveries failed");
                return;
            }
        };
        for delivery in claimed {
            let Ok(permit) = slots.clone().acquire_owned().await else {
                return;
            };
            let app = self.clone();
            tokio::spawn(async move {
                app.deliver(delivery).await;
                drop(permit);
            });
        }
    }

    fn outgoing_timeout(&self) -> Duration {
        let seconds = self
            .config()
            .service_settings
            .outgoing_integration_requests_timeout;
        Duration::from_secs(seconds.clamp(1, 300) as u64)
    }

    /// One attempt of one delivery, and its record.
    async fn deliver(&self, delivery: ClaimedDelivery) {
        let attempt = self.attempt_delivery(&delivery).await;
        let node_id = self.node().node_id.clone();
        let db = match self.store().master().await {
            Ok(db) => db,
            Err(error) => {
                // The lease runs out and another attempt follows.
                tracing::warn!(delivery = %delivery.id, error = %error, "outbox: cannot record an attempt");
                return;
            }
        };
        let recorded = match attempt {
            Attempt::Acknowledged { status, .. } => {
                let since_post = chorus_model::now_millis() - delivery.create_at;
                self.metrics().outgoing_attempt(
                    "delivered",
                    Some(Duration::from_millis(since_post.max(0) as u64)),
                );
                integration_store::mark_delivered(&db, &delivery, &node_id, status as i32).await
            }
            Attempt::Retry { status, error } if delivery.attempt < MAX_ATTEMPTS => {
                let backoff = Duration::from_secs(1 << (delivery.attempt - 1).clamp(0, 6));
                tracing::info!(delivery = %delivery.id, attempt = delivery.attempt, error = %error, "outbox: delivery failed, retrying");
                self.metrics().outgoing_attempt("retry", None);
                integration_store::mark_attempt_failed(
                    &db,
                    &delivery,
                    &node_id,
                    status as i32,
                    &error,
                    Some(backoff),
                )
                .await
            }
            Attempt::Retry { status, error } | Attempt::GiveUp { status, error } => {
                let reason = format!("gave up after {} attempt(s): {error}", delivery.attempt);
                tracing::warn!(delivery = %delivery.id, reason = %reason, "outbox: delivery given up");
                self.metrics().outgoing_attempt("given_up", None);
                integration_store::mark_attempt_failed(
                    &db,
                    &delivery,
                    &node_id,
                    status as i32,
                    &reason,
                    None,
                )
                .await
            }
        };
        match recorded {
            Ok(true) => {}
            Ok(false) => {
                tracing::warn!(delivery = %delivery.id, "outbox: claim lost before the attempt was recorded")
            }
            Err(error) => {
                tracing::warn!(delivery = %delivery.id, error = %error, "outbox: recording an attempt failed")
            }
        }
    }

    async fn attempt_delivery(&self, delivery: &ClaimedDelivery) -> Attempt {
        let give_up = |error: String| Attempt::GiveUp { status: 0, error };
        let service = self.config().service_settings.clone();
        if !service.enable_outgoing_webhooks {
            return give_up("outgoing webhooks are disabled (EnableOutgoingWebhooks)".into());
        }
        let db = match self.store().master().await {
            Ok(db) => db,
            Err(error) => {
                return Attempt::Retry {
                    status: 0,
                    error: error.to_string(),
                }
            }
        };
        let loaded = async {
            let hook = integration_store::get_outgoing(&db, &delivery.hook_id, true).await?;
            let post = post_store::get(&db, &delivery.post_id).await?;
            let channel = chorus_store::channels::get(&db, &post.channel_id).await?;
            let team = team_store::get(&db, &channel.team_id).await?;
            let author = chorus_store::users::get(&db, &post.user_id).await?;
            Ok::<_, chorus_store::StoreError>((hook, post, channel, team, author))
        }
        .await;
        drop(db);
        let (hook, post, channel, team, author) = match loaded {
            Ok(loaded) => loaded,
            Err(chorus_store::StoreError::NotFound(record)) => {
                return give_up(format!("the {record} is gone"))
            }
            Err(error) => {
                return Attempt::Retry {
                    status: 0,
                    error: error.to_string(),
                }
            }
        };
        if hook.delete_at != 0 {
            return give_up("the outgoing webhook was deleted".into());
        }
        if post.delete_at != 0 {
            return give_up("the post was deleted".into());
        }
        let first_word = post.message.split_whitespace().next().unwrap_or_default();
        let payload = OutgoingWebhookPayload {
            token: hook.token.clone(),
            team_id: hook.team_id.clone(),
            team_domain: team.name.clone(),
            channel_id: channel.id.clone(),
            channel_name: channel.name.clone(),
            timestamp: post.create_at,
            user_id: post.user_id.clone(),
            user_name: author.username.clone(),
            post_id: post.id.clone(),
            text: post.message.clone(),
            trigger_word: hook.trigger_word_for(first_word),
            file_ids: post.file_ids.join(","),
        };
        let addresses = match allowed_addresses(
            &delivery.callback_url,
            &service.allowed_untrusted_internal_connections,
        )
        .await
        {
            Ok(addresses) => addresses,
            Err(error) => return give_up(error),
        };
        let attempt = call_callback(
            &delivery.callback_url,
            addresses,
            &hook.content_type,
            &payload,
            &delivery.id,
            self.outgoing_timeout(),
        )
        .await;
        if let Attempt::Acknowledged {
            response: Some(response),
            ..
        } = &attempt
        {
            if let Err(error) = self
                .post_callback_answer(delivery, &hook, &post, &service, (**response).clone())
                .await
            {
                tracing::warn!(delivery = %delivery.id, error = %error, "outbox: the callback's answer could not be posted");
            }
        }
        attempt
    }

    /// The callback's answer, posted in the channel as the hook's creator (a reply to the
    /// triggering post when `response_type` is `comment`).
    async fn post_callback_answer(
        &self,
        delivery: &ClaimedDelivery,
        hook: &chorus_model::OutgoingWebhook,
        post: &Post,
        service: &chorus_config::ServiceSettings,
        response: OutgoingWebhookResponse,
    ) -> crate::AppResult<()> {
        let has_attachments = response
            .attachments
            .as_ref()
            .is_some_and(|value| !value.is_null());
        if response.text.is_none() && !has_attachments {
            return Ok(());
        }
        if response.post_type.starts_with("system_") {
            return Err(chorus_model::AppError::invalid_param("post.type"));
        }
        let mut props = response.props;
        props.insert(
            "webhook_display_name".to_string(),
            hook.display_name.clone().into(),
        );
        if let Some(attachments) = response.attachments.filter(|value| !value.is_null()) {
            props.insert("attachments".to_string(), attachments);
        }
        let username = if response.username.is_empty() {
            hook.username.clone()
        } else {
            response.username
        };
        let icon_url = if response.icon_url.is_empty() {
            hook.icon_url.clone()
        } else {
            response.icon_url
        };
        webhook_post_props(&mut props, service, &username, &icon_url, "");
        let root_id = if response.response_type == "comment" {
            if post.root_id.is_empty() {
                post.id.clone()
            } else {
                post.root_id.clone()
            }
        } else {
            String::new()
        };
        let sender = self.cached_user(&hook.creator_id).await?;
        let channel = self.cached_channel(&post.channel_id).await?;
        let answer = Post {
            message: slack_links_to_markdown(response.text.as_deref().unwrap_or_default()),
            post_type: response.post_type,
            props,
            root_id,
            pending_post_id: format!("outgoing:{}", delivery.id),
            ..Default::default()
        };
        self.create_integration_post(sender, channel, answer, false)
            .await?;
        Ok(())
    }
}

/// POSTs the payload to addresses already checked, and reads at most
/// [`MAX_RESPONSE_BYTES`] of the answer.
async fn call_callback(
    url: &str,
    addresses: Vec<SocketAddr>,
    content_type: &str,
    payload: &OutgoingWebhookPayload,
    idempotency_key: &str,
    timeout: Duration,
) -> Attempt {
    let retry = |error: String| Attempt::Retry { status: 0, error };
    let Ok(parsed) = reqwest::Url::parse(url) else {
        return Attempt::GiveUp {
            status: 0,
            error: "invalid callback URL".into(),
        };
    };
    let host = parsed.host_str().unwrap_or_default().to_string();
    let client = match reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(timeout)
        .resolve_to_addrs(&host, &addresses)
        .build()
    {
        Ok(client) => client,
        Err(error) => return retry(error.to_string()),
    };
    let request = client
        .post(parsed)
        .header("Accept", "application/json")
        .header("Idempotency-Key", idempotency_key);
    let request = if content_type == CONTENT_TYPE_JSON {
        request
            .header("Content-Type", CONTENT_TYPE_JSON)
            .body(serde_json::to_vec(payload).unwrap_or_default())
    } else {
        request.form(&payload.form_fields())
    };
    let mut response = match request.send().await {
        Ok(response) => response,
        Err(error) => return retry(error.to_string()),
    };
    let status = response.status().as_u16();
    let mut body = Vec::new();
    let mut truncated = false;
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
                    truncated = true;
                    break;
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => break,
            Err(error) if (200..300).contains(&status) => {
                // Acknowledged; only the answer's body was cut short.
                tracing::info!(error = %error, "outbox: reading a callback's answer failed");
                truncated = true;
                break;
            }
            Err(error) => return retry(error.to_string()),
        }
    }
    match status {
        200..=299 => {
            let answer = if truncated || body.iter().all(u8::is_ascii_whitespace) {
                None
            } else {
                serde_json::from_slice::<OutgoingWebhookResponse>(&body)
                    .ok()
                    .map(Box::new)
            };
            Attempt::Acknowledged {
                status,
                response: answer,
            }
        }
        408 | 429 | 500..=599 => Attempt::Retry {
            status,
            error: format!("the callback answered {status}"),
        },
        _ => Attempt::GiveUp {
            status,
            error: format!("the callback answered {status}"),
        },
    }
}

/// A callback URL an outgoing webhook may hold: absolute http(s) with a host.
pub(crate) fn check_callback_url(url: &str) -> Result<(), String> {
    let parsed = reqwest::Url::parse(url).map_err(|error| format!("{url}: {error}"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(format!("{url}: only http and https are allowed"));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(format!("{url}: no host"));
    }
    if url.len() > 1024 {
        return Err("a callback URL is longer than 1024 characters".into());
    }
    Ok(())
}

/// The addresses `url` may be called at: its host's, each either public or allowed by
/// AllowedUntrustedInternalConnections (host names, addresses or CIDR ranges, separated by
/// spaces or commas). Refused when any resolved address is internal and not allowed, so a
/// name cannot mix a public and an internal address.
pub(crate) async fn allowed_addresses(url: &str, allowed: &str) -> Result<Vec<SocketAddr>, String> {
    let parsed =
        reqwest::Url::parse(url).map_err(|error| format!("invalid callback URL: {error}"))?;
    let host = parsed
        .host_str()
        .ok_or("the callback URL has no host")?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let port = parsed
        .port_or_known_default()
        .ok_or("the callback URL has no port")?;
    let addresses: Vec<SocketAddr> = match host.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, port)],
        Err(_) => tokio::net::lookup_host((host.as_str(), port))
            .await
            .map_err(|error| format!("cannot resolve {host}: {error}"))?
            .collect(),
    };
    if addresses.is_empty() {
        return Err(format!("{host} has no address"));
    }
    let entries: Vec<&str> = allowed
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|entry| !entry.is_empty())
        .collect();
    if entries.contains(&host.as_str()) {
        return Ok(addresses);
    }
    for address in &addresses {
        let ip = address.ip();
        if is_internal(ip) && !entries.iter().any(|entry| entry_allows(entry, ip)) {
            return Err(format!(
                "{host} resolves to {ip}, an internal address that \
                 ServiceSettings.AllowedUntrustedInternalConnections does not allow"
            ));
        }
    }
    Ok(addresses)
}

/// Loopback, private, link-local, shared (CGNAT), unspecified or unique-local addresses.
fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || (a == 100 && (64..128).contains(&b))
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_internal(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            v6.is_loopback()
                || v6.is_unspecified()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
        }
    }
}

/// An allow-list entry (an address or a CIDR range) covers `ip`.
fn entry_allows(entry: &str, ip: IpAddr) -> bool {
    let (network, prefix) = match entry.split_once('/') {
        Some((network, prefix)) => match (network.parse::<IpAddr>(), prefix.parse::<u32>()) {
            (Ok(network), Ok(prefix)) => (network, prefix),
            _ => return false,
        },
        None => match entry.parse::<IpAddr>() {
            Ok(address) => return address == ip,
            Err(_) => return false,
        },
    };
    match (network, ip) {
        (IpAddr::V4(network), IpAddr::V4(ip)) if prefix <= 32 => {
            let mask = u32::MAX.checked_shl(32 - prefix).unwrap_or(0);
            u32::from(network) & mask == u32::from(ip) & mask
        }
        (IpAddr::V6(network), IpAddr::V6(ip)) if prefix <= 128 => {
            let mask = u128::MAX.checked_shl(128 - prefix).unwrap_or(0);
            u128::from(network) & mask == u128::from(ip) & mask
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_addresses_need_an_allow_list_entry() {
        let loopback: IpAddr = "127.0.0.1".parse().unwrap();
        assert!(is_internal(loopback));
        assert!(is_internal("10.1.2.3".parse().unwrap()));
        assert!(is_internal("::1".parse().unwrap()));
        assert!(!is_internal("93.184.216.34".parse().unwrap()));
        assert!(entry_allows("127.0.0.0/8", loopback));
        assert!(entry_allows("127.0.0.1", loopback));
        assert!(!entry_allows("10.0.0.0/8", loopback));
    }

    #[tokio::test]
    async fn loopback_callbacks_are_refused_unless_allowed() {
        assert!(allowed_addresses("http://127.0.0.1:9/x", "").await.is_err());
        assert!(allowed_addresses("http://127.0.0.1:9/x", "127.0.0.1")
            .await
            .is_ok());
        assert!(allowed_addresses("http://[::1]:9/x", "10.0.0.0/8")
            .await
            .is_err());
    }
}
