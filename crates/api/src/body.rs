//! Request bodies a handler leaves unread.
//!
//! A handler that answers without reading the whole body (a GET with a body, a refused upload,
//! a 403 before the JSON is parsed) would leave the rest unread; hyper then closes the
//! connection with that rest still arriving, the kernel answers it with a reset, and the client
//! loses the response it was sent. Go's server (so Mattermost) avoids that by reading what is
//! left before closing; [`drain_unread`] does the same, bounded by [`DRAIN_LIMIT`] and
//! [`DRAIN_TIME`] (larger bodies are cut off). Handlers keep their own limits
//! (MaximumPayloadSizeBytes for JSON, FileSettings.MaxFileSize for uploads).

use std::sync::Arc;

use axum::body::{Body, BodyDataStream, Bytes};
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use futures_util::StreamExt;

/// The most of an unread body the node reads and drops before answering.
pub(crate) const DRAIN_LIMIT: u64 = 16 * 1024 * 1024;
/// The longest the node spends on it.
pub(crate) const DRAIN_TIME: std::time::Duration = std::time::Duration::from_secs(5);

/// The middleware: hands the handler a body whose unread rest is drained after it answered.
pub(crate) async fn drain_unread(request: Request, next: Next) -> Response {
    if says_it_has_no_body(&request) {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    let unread = Arc::new(tokio::sync::Mutex::new(body.into_data_stream()));
    let request = Request::from_parts(parts, Body::from_stream(shared_stream(unread.clone())));
    let response = next.run(request).await;
    // The handler's body (and with it the stream's other handle) is gone by now, unless the
    // handler kept it in the response (a websocket upgrade has no body, so none does).
    if let Ok(mut rest) = unread.try_lock() {
        drain((&mut *rest).map(|chunk| chunk.map(|bytes| bytes.len()))).await;
    }
    response
}

/// Whether a request says it has no body (no Content-Length or 0, and not chunked).
fn says_it_has_no_body(request: &Request) -> bool {
    use axum::http::header::{CONTENT_LENGTH, TRANSFER_ENCODING};
    let headers = request.headers();
    !headers.contains_key(TRANSFER_ENCODING)
        && headers
            .get(CONTENT_LENGTH)
            .and_then(|value| value.to_str().ok())
            .is_none_or(|length| length.trim() == "0")
}

/// A body stream that takes its chunks from `source`, which the caller keeps to drain what is
/// left once the reader is gone.
fn shared_stream(
    source: Arc<tokio::sync::Mutex<BodyDataStream>>,
) -> impl futures_util::Stream<Item = Result<Bytes, axum::Error>> + Send + 'static {
    futures_util::stream::unfold(source, |source| async move {
        let next = source.lock().await.next().await;
        next.map(|chunk| (chunk, source))
    })
}

/// Reads and drops chunks until the end, an error, `DRAIN_LIMIT` bytes or `DRAIN_TIME`.
pub(crate) async fn drain<S, E>(chunk_lengths: S)
where
    S: futures_util::Stream<Item = Result<usize, E>>,
{
    let counted = async {
        let mut chunk_lengths = std::pin::pin!(chunk_lengths);
        let mut drained: u64 = 0;
        while let Some(Ok(length)) = chunk_lengths.next().await {
            drained += length as u64;
            if drained > DRAIN_LIMIT {
                return;
            }
        }
    };
    let _ = tokio::time::timeout(DRAIN_TIME, counted).await;
}
