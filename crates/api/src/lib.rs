//! The HTTP edge: axum routes for `/api/v4` (and the legacy `/api/v3/general/ping`), the
//! extractors that authenticate callers and parse input, and the one place errors become
//! Mattermost-shaped JSON responses.
//!
//! Every other path is the web client's (`web`: web/dist embedded in the binary).
//!
//! Handlers are short: extract the caller, parse, call one `App` method, map the result.
//! Nothing here speaks SQL or talks to other nodes. Routes are grouped by resource in
//! `routes::{users, teams, channels, posts, files, jobs, system, websocket}`.

mod body;
mod cors;
mod error;
mod extract;
mod rate_limit;
mod routes;
mod web;

pub use error::ApiError;

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use chorus_app::App;
use chorus_model::{new_id, AppError, ErrorId};

tokio::task_local! {
    /// The id of the request being served, echoed in `X-Request-Id` and in error bodies.
    pub(crate) static REQUEST_ID: String;
}

/// The whole HTTP surface of a node, shared by `main` and tests. Serve it with
/// `into_make_service_with_connect_info::<SocketAddr>()`: RateLimitSettings key on the peer
/// address (without it, every client shares one address key).
pub fn router(app: App) -> Router {
    let config = app.config();
    let body_limit = config.service_settings.maximum_payload_size_bytes.max(1) as usize;
    let mut routes = Router::new()
        .nest("/api/v4", routes::api_v4())
        .merge(routes::hooks())
        .route(
            "/api/v3/general/ping",
            axum::routing::get(routes::system::legacy_ping),
        )
        // Must follow every route: it applies to the routes registered so far.
        .method_not_allowed_fallback(method_not_allowed)
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(middleware::from_fn(body::drain_unread));
    // Inside common_headers, so that a 429 carries X-Request-Id like every answer.
    if let Some(limiter) = rate_limit::RateLimiter::from_settings(
        &config.rate_limit_settings,
        &config.service_settings,
    ) {
        routes = routes.layer(middleware::from_fn_with_state(limiter, rate_limit::limit));
    }
    let mut router = routes
        .layer(middleware::from_fn_with_state(app.clone(), common_headers))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(
            panic_response,
        ))
        .with_state(app);
    // Outermost, so that a preflight is answered before routing.
    if let Some(cors_layer) = cors::layer(&config.service_settings) {
        router = router.layer(cors_layer);
        if config.service_settings.cors_debug {
            let allowed_origins = std::sync::Arc::new(cors::allowed_origins(
                &config.service_settings.allow_cors_from,
            ));
            router = router.layer(middleware::from_fn_with_state(
                allowed_origins,
                cors::log_decision,
            ));
        }
    }
    router
}

/// Outside `/api/`, the web client's (its files, or index.html for its own routes); inside,
/// Mattermost's JSON 404.
async fn not_found(method: axum::http::Method, uri: axum::http::Uri) -> Response {
    if web::serves(&method, &uri) {
        return web::respond(&uri);
    }
    ApiError::from(AppError::from(ErrorId::PageNotFound)).into_response()
}

/// A known path with a method it does not serve: still a Mattermost error body, not axum's
/// empty 405.
async fn method_not_allowed() -> ApiError {
    AppError::from(ErrorId::MethodNotAllowed).into()
}

/// Every response carries `X-Request-Id` and `X-Version-Id`; every request is counted and
/// timed in the node's metrics, by route (`mattermost_api_time`).
async fn common_headers(State(app): State<App>, request: Request, next: Next) -> Response {
    let started = std::time::Instant::now();
    let method = request.method().clone();
    let route = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map(|path| path.as_str().to_string());
    let request_id = new_id();
    let mut response = REQUEST_ID
        .scope(request_id.clone(), next.run(request))
        .await;
    app.metrics().observe_request(
        route.as_deref().unwrap_or("unmatched"),
        method.as_str(),
        response.status().as_u16(),
        started.elapsed(),
    );
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        headers.insert(HeaderName::from_static("x-request-id"), value);
    }
    if let Ok(value) = HeaderValue::from_str(&app.version_id()) {
        headers.insert(HeaderName::from_static("x-version-id"), value);
    }
    // A draining node tells the balancer not to reuse this connection (see the server's drain).
    if app.readiness() == Err(chorus_app::Unready::Draining) {
        headers.insert(
            axum::http::header::CONNECTION,
            HeaderValue::from_static("close"),
        );
    }
    if let Some(cluster_id) = app.cluster_id() {
        if let Ok(value) = HeaderValue::from_str(&cluster_id) {
            headers.insert(HeaderName::from_static("x-cluster-id"), value);
        }
    }
    response
}

fn panic_response(_panic: Box<dyn std::any::Any + Send + 'static>) -> Response<Body> {
    tracing::error!("request handler panicked");
    ApiError::from(AppError::from(ErrorId::Panic)).into_response()
}
