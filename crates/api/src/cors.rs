//! Which other sites' pages may use this server, as Mattermost decides it.
//!
//! HTTP: when `ServiceSettings.AllowCorsFrom` is set, cross-origin requests from those origins
//! are answered with `Access-Control-*` headers (Mattermost wraps its router in rs/cors the same
//! way: methods POST, GET, OPTIONS, PUT, PATCH, DELETE; any request header; `MaxAge` a day;
//! `CorsExposedHeaders`, `CorsAllowCredentials`; `CorsDebug` logs each decision). Like
//! Mattermost, the layer is built when the node starts: a changed AllowCorsFrom applies after a
//! restart.
//!
//! Websocket: a browser sends its cookies with an upgrade from any page, so an upgrade that is
//! authenticated by the session cookie must come from our own site (SiteURL's origin, or the
//! host the request was sent to) or from an origin in AllowCorsFrom — otherwise any page could
//! open the user's websocket (cross-site websocket hijacking). Upgrades authenticated by a
//! header or query token, or by an `authentication_challenge` afterwards, cannot be forged
//! by another page and are not checked; neither are clients that send no Origin (apps, bots).

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{header, HeaderName, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::Response;
use chorus_config::ServiceSettings;
use tower_http::cors::{AllowHeaders, AllowOrigin, CorsLayer};

/// The CORS layer for AllowCorsFrom, or None when it is empty (no cross-origin access).
pub(crate) fn layer(settings: &ServiceSettings) -> Option<CorsLayer> {
    let allowed_origins = allowed_origins(&settings.allow_cors_from);
    if allowed_origins.is_empty() {
        return None;
    }
    let exposed_headers: Vec<HeaderName> = settings
        .cors_exposed_headers
        .split_whitespace()
        .filter_map(|name| HeaderName::try_from(name).ok())
        .collect();
    let allow_origin = AllowOrigin::predicate(move |origin: &HeaderValue, _request| {
        origin
            .to_str()
            .is_ok_and(|origin| origin_listed(&allowed_origins, origin))
    });
    let layer = CorsLayer::new()
        .allow_origin(allow_origin)
        .allow_methods([
            Method::POST,
            Method::GET,
            Method::OPTIONS,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
        ])
        // Mattermost allows "*": every header the preflight asks for.
        .allow_headers(AllowHeaders::mirror_request())
        .expose_headers(exposed_headers)
        .max_age(Duration::from_secs(86_400))
        .allow_credentials(settings.cors_allow_credentials);
    Some(layer)
}

/// CorsDebug: logs every request that names an Origin, with whether AllowCorsFrom lets it in.
pub(crate) async fn log_decision(
    State(allowed_origins): State<Arc<Vec<String>>>,
    request: Request,
    next: Next,
) -> Response {
    if let Some(origin) = request
        .headers()
        .get(header::ORIGIN)
        .and_then(|value| value.to_str().ok())
    {
        tracing::debug!(
            source = "cors",
            origin,
            method = %request.method(),
            path = request.uri().path(),
            allowed = origin_listed(&allowed_origins, origin),
            "cross-origin request"
        );
    }
    next.run(request).await
}

/// The entries of AllowCorsFrom.
pub(crate) fn allowed_origins(allow_cors_from: &str) -> Vec<String> {
    allow_cors_from
        .split_whitespace()
        .map(|origin| origin.trim_end_matches('/').to_ascii_lowercase())
        .collect()
}

/// Whether `origin` is in the list: exactly (ignoring case), `*` for any, or a pattern with one
/// `*` such as `https://*.example.com` (as rs/cors matches).
fn origin_listed(allowed_origins: &[String], origin: &str) -> bool {
    let origin = origin.to_ascii_lowercase();
    allowed_origins.iter().any(|allowed| {
        if allowed == "*" || *allowed == origin {
            return true;
        }
        match allowed.split_once('*') {
            Some((prefix, suffix)) => {
                origin.len() >= prefix.len() + suffix.len()
                    && origin.starts_with(prefix)
                    && origin.ends_with(suffix)
            }
            None => false,
        }
    })
}

/// Whether a cookie-authenticated websocket upgrade may come from a page of `origin`: our own
/// site (SiteURL's origin, or the same host the request was sent to, which is what Mattermost's
/// websocket library checks when AllowCorsFrom is empty), or an origin AllowCorsFrom lists.
pub(crate) fn websocket_origin_allowed(
    settings: &ServiceSettings,
    origin: &str,
    request_host: Option<&str>,
) -> bool {
    let origin = origin.trim_end_matches('/').to_ascii_lowercase();
    if let Some(site_origin) = site_origin(&settings.site_url) {
        if site_origin == origin {
            return true;
        }
    }
    let origin_host = origin
        .split_once("://")
        .map(|(_scheme, host)| host)
        .unwrap_or_default();
    if request_host
        .is_some_and(|host| !origin_host.is_empty() && host.eq_ignore_ascii_case(origin_host))
    {
        return true;
    }
    origin_listed(&allowed_origins(&settings.allow_cors_from), &origin)
}

/// `scheme://host[:port]` of SiteURL, lowercased; None when SiteURL is unset or not a URL.
fn site_origin(site_url: &str) -> Option<String> {
    let (scheme, rest) = site_url.trim().split_once("://")?;
    let authority = rest.split('/').next().unwrap_or_default();
    if scheme.is_empty() || authority.is_empty() {
        return None;
    }
    Some(format!("{scheme}://{authority}").to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(site_url: &str, allow_cors_from: &str) -> ServiceSettings {
        ServiceSettings {
            site_url: site_url.to_string(),
            allow_cors_from: allow_cors_from.to_string(),
            ..ServiceSettings::default()
        }
    }

    #[test]
    fn websocket_origins_are_our_site_the_same_host_or_listed() {
        let ours = settings("https://Chat.example.com/subpath", "https://*.partner.org");
        let host = Some("chat.example.com");
        assert!(websocket_origin_allowed(
            &ours,
            "https://chat.example.com",
            host
        ));
        assert!(websocket_origin_allowed(
            &ours,
            "https://app.partner.org",
            host
        ));
        assert!(!websocket_origin_allowed(
            &ours,
            "https://evil.example",
            host
        ));
        assert!(!websocket_origin_allowed(
            &ours,
            "http://chat.example.com.evil.example",
            host
        ));

        let unset = settings("", "");
        assert!(websocket_origin_allowed(
            &unset,
            "http://127.0.0.1:8065",
            Some("127.0.0.1:8065")
        ));
        assert!(!websocket_origin_allowed(
            &unset,
            "https://evil.example",
            Some("127.0.0.1:8065")
        ));
        assert!(!websocket_origin_allowed(
            &unset,
            "null",
            Some("127.0.0.1:8065")
        ));

        assert!(websocket_origin_allowed(
            &settings("", "*"),
            "https://any.example",
            None
        ));
    }
}
