//! The web client (web/, built into web/dist by scripts/build-web.sh), served by every node.
//!
//! The files are inside the binary (rust-embed; a debug build reads web/dist from disk, so
//! `node build.mjs --watch` needs no Rust rebuild), so every node serves the same client and
//! NGINX needs no shared folder. A binary built before the client serves a page saying so.
//!
//! - `/static/*`: the bundles, whose names carry a hash of their content, cached for a year
//!   as immutable; a missing one is a plain 404 (never index.html, which a browser would try
//!   to run as a script).
//! - Every other GET outside `/api/`: index.html with `no-cache`, so the client's own router
//!   takes `/login`, `/{team}/channels/{channel}`, `/admin_console/…`; a new build is picked
//!   up at the next load.
//! - HTML answers carry a Content-Security-Policy that allows only this origin (and `blob:`
//!   and `data:` images): a script that slipped into a post cannot run or call elsewhere.
//!
//! `CHORUS_WEB_DIR=path/to/web/dist` makes a node serve the client from that folder instead,
//! read at each request: for working on the client against any chorus binary.

use axum::body::Body;
use axum::http::{header, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use rust_embed::RustEmbed;

#[derive(RustEmbed)]
#[folder = "../../web/dist"]
#[allow_missing = true]
struct WebClient;

/// A file of the client: from `CHORUS_WEB_DIR` when it is set, else from the binary.
fn web_file(name: &str) -> Option<Vec<u8>> {
    match std::env::var_os("CHORUS_WEB_DIR") {
        Some(dir) if !name.split('/').any(|part| part == "..") => {
            std::fs::read(std::path::Path::new(&dir).join(name)).ok()
        }
        Some(_) => None,
        None => WebClient::get(name).map(|file| file.data.into_owned()),
    }
}

pub(crate) const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; img-src 'self' blob: data:; \
     object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'self'";

const NOT_BUILT: &str = "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
<title>Chorus</title></head><body style=\"font-family: system-ui, sans-serif; margin: 3em;\">\
<h1>Chorus is running</h1><p>The web client is not built into this binary. Build it with \
<code>scripts/build-web.sh</code> (scripts/up.sh and scripts/test.sh do), then build chorus \
again. The API is at <code>/api/v4</code>.</p></body></html>";

/// Whether `uri` is the web client's to answer (everything but the API and the websocket).
pub(crate) fn serves(method: &Method, uri: &Uri) -> bool {
    let path = uri.path();
    (method == Method::GET || method == Method::HEAD)
        && path != "/api"
        && !path.starts_with("/api/")
}

/// The answer for a path [`serves`] accepts.
pub(crate) fn respond(uri: &Uri) -> Response {
    let path = uri.path().trim_start_matches('/');
    if let Some(asset) = path.strip_prefix("static/") {
        return match web_file(&format!("static/{asset}")) {
            Some(file) => file_response(
                &format!("static/{asset}"),
                file,
                "public, max-age=31536000, immutable",
            ),
            None => (StatusCode::NOT_FOUND, "not found").into_response(),
        };
    }
    // Files at the top of dist/ (a favicon, robots.txt) by name; a missing one is a 404 rather
    // than the app (a browser asking for /favicon.ico wants an image). Anything else is the app.
    if !path.is_empty() && path != "index.html" {
        if let Some(file) = web_file(path) {
            return file_response(path, file, "public, max-age=3600");
        }
        if !path.contains('/') && path.contains('.') {
            return (StatusCode::NOT_FOUND, "not found").into_response();
        }
    }
    match web_file("index.html") {
        Some(index) => file_response("index.html", index, "no-cache"),
        None => file_response("index.html", NOT_BUILT.as_bytes().to_vec(), "no-cache"),
    }
}

fn file_response(name: &str, bytes: Vec<u8>, cache_control: &'static str) -> Response {
    let content_type = mime_guess::from_path(name).first_or_octet_stream();
    let mut response = Response::new(Body::from(bytes));
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(content_type.as_ref()) {
        headers.insert(header::CONTENT_TYPE, value);
    }
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(cache_control),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if name.ends_with(".html") {
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        );
    }
    response
}
