//! The node's HTTP server: accepts connections, at most ServiceSettings.MaxConnectionsPerNode at
//! once, and serves HTTP/1.1 on each with ServiceSettings' timeouts, as Mattermost's Go server
//! does with its `http.Server`:
//!
//! - ReadTimeout: a request's headers must arrive within it, or the connection is closed (a
//!   client that sends half its headers, or nothing, holds no socket for longer).
//! - IdleTimeout: a keep-alive connection with no request for that long is closed (0 means
//!   ReadTimeout, as in Go).
//! - WriteTimeout: a response the client does not read for that long is abandoned and the
//!   connection closed.
//!
//! Websockets are cut by none of these once upgraded: their liveness is the hub's ping/pong.
//! Every accepted socket gets TCP_NODELAY (small responses and events are not held back).

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use chorus_config::ServiceSettings;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tower::Service;

/// Open files the node keeps for itself (database pools, cluster links, files, logs) when the
/// connection cap is derived from RLIMIT_NOFILE.
const FILES_RESERVED_FOR_THE_NODE: u64 = 1024;

/// At most one "connection cap reached" (or accept error) log line per this interval.
const LOG_AT_MOST_EVERY: Duration = Duration::from_secs(10);

/// The limits every connection is served with.
#[derive(Clone, Copy, Debug)]
pub struct HttpLimits {
    pub read_timeout: Duration,
    pub write_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_connections: usize,
}

impl HttpLimits {
    pub fn from_settings(service: &ServiceSettings) -> HttpLimits {
        let seconds = |value: i64| Duration::from_secs(value.max(1) as u64);
        let read_timeout = seconds(service.read_timeout);
        let idle_timeout = if service.idle_timeout <= 0 {
            read_timeout
        } else {
            seconds(service.idle_timeout)
        };
        let configured = service.max_connections_per_node.max(1) as u64;
        let max_connections = match open_file_limit() {
            Some(limit) => configured.min(
                limit
                    .saturating_sub(FILES_RESERVED_FOR_THE_NODE)
                    .max(limit / 2)
                    .max(1),
            ),
            None => configured,
        };
        HttpLimits {
            read_timeout,
            write_timeout: seconds(service.write_timeout),
            idle_timeout,
            max_connections: max_connections as usize,
        }
    }
}

/// The soft RLIMIT_NOFILE of this process, from /proc (None where there is no /proc).
fn open_file_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits
        .lines()
        .find(|line| line.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// Serves `router` on `listener` until `shutdown` resolves; then stops accepting, lets every
/// connection finish its request in flight (idle ones close at once) and returns when they
/// have. Upgraded websockets are not waited for: the drain closes them through the hub.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: HttpLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    // Every connection task holds a receiver: it hears the shutdown through it, and the
    // sender's `closed()` tells when the last one has ended.
    let (shutdown_sender, shutdown_receiver) = watch::channel(false);
    tokio::pin!(shutdown);
    let mut last_logged: Option<Instant> = None;
    let mut should_log = move || {
        let now = Instant::now();
        let due = last_logged.is_none_or(|at| now.duration_since(at) >= LOG_AT_MOST_EVERY);
        if due {
            last_logged = Some(now);
        }
        due
    };
    loop {
        let permit = match permits.clone().try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                if should_log() {
                    tracing::warn!(
                        max_connections = limits.max_connections,
                        "connection cap reached (ServiceSettings.MaxConnectionsPerNode): new connections wait until one closes"
                    );
                }
                tokio::select! {
                    permit = permits.clone().acquire_owned() => permit.expect("the semaphore is never closed"),
                    () = &mut shutdown => break,
                }
            }
        };
        let (stream, peer_address) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors, or a connection reset before it was accepted:
                    // wait a moment rather than spin.
                    if should_log() {
                        tracing::error!(error = %error, "accepting a connection failed");
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        if let Err(error) = stream.set_nodelay(true) {
            tracing::debug!(error = %error, "could not set TCP_NODELAY");
        }
        tokio::spawn(serve_connection(
            stream,
            peer_address,
            permit,
            router.clone(),
            limits,
            shutdown_receiver.clone(),
        ));
    }
    drop(listener);
    let _ = shutdown_sender.send(true);
    drop(shutdown_receiver);
    shutdown_sender.closed().await;
    Ok(())
}

async fn serve_connection(
    stream: TcpStream,
    peer_address: std::net::SocketAddr,
    permit: OwnedSemaphorePermit,
    router: Router,
    limits: HttpLimits,
    mut shutdown: watch::Receiver<bool>,
) {
    let activity = Arc::new(Activity::new());
    let io = TimedStream {
        stream,
        activity: activity.clone(),
        write_timeout: limits.write_timeout,
        write_deadline: None,
        _permit: permit,
    };
    let service_activity = activity.clone();
    let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        // The peer address, as axum's `into_make_service_with_connect_info` gives it: the rate
        // limiter keys on it (`chorus_api::router`'s doc).
        request
            .extensions_mut()
            .insert(axum::extract::ConnectInfo(peer_address));
        let request_guard = RequestInFlight::begin(service_activity.clone());
        let mut router = router.clone();
        async move {
            let response = router.call(request).await;
            if let Ok(response) = &response {
                if response.status() == hyper::StatusCode::SWITCHING_PROTOCOLS {
                    request_guard
                        .activity
                        .upgraded
                        .store(true, Ordering::Relaxed);
                }
            }
            drop(request_guard);
            response
        }
    });
    let connection = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.read_timeout)
        .keep_alive(true)
        .serve_connection(TokioIo::new(io), service)
        .with_upgrades();
    tokio::pin!(connection);
    let idle_check_every = (limits.idle_timeout / 4).max(Duration::from_millis(100));
    let mut idle_check = tokio::time::interval(idle_check_every);
    idle_check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut closing = false;
    loop {
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(error) = result {
                    tracing::debug!(error = %error, "connection ended with an error");
                }
                return;
            }
            changed = shutdown.changed(), if !closing => {
                // A dropped sender means the server is gone: close as for a shutdown.
                let _ = changed;
                closing = true;
                connection.as_mut().graceful_shutdown();
            }
            _ = idle_check.tick(), if !closing => {
                if activity.idle_for() >= limits.idle_timeout {
                    closing = true;
                    connection.as_mut().graceful_shutdown();
                }
            }
        }
    }
}

/// What the idle check and the write timeout know of one connection.
struct Activity {
    started: Instant,
    /// Milliseconds after `started` of the last byte read or written.
    last_active_millis: AtomicU64,
    requests_in_flight: AtomicUsize,
    /// A websocket now: no idle or write timeout applies.
    upgraded: AtomicBool,
}

impl Activity {
    fn new() -> Activity {
        Activity {
            started: Instant::now(),
            last_active_millis: AtomicU64::new(0),
            requests_in_flight: AtomicUsize::new(0),
            upgraded: AtomicBool::new(false),
        }
    }

    fn touch(&self) {
        let millis = self.started.elapsed().as_millis() as u64;
        self.last_active_millis.store(millis, Ordering::Relaxed);
    }

    /// How long the connection has been waiting for its next request (zero while a request
    /// is being served or once it is a websocket).
    fn idle_for(&self) -> Duration {
        if self.requests_in_flight.load(Ordering::Relaxed) > 0
            || self.upgraded.load(Ordering::Relaxed)
        {
            return Duration::ZERO;
        }
        let last_active = Duration::from_millis(self.last_active_millis.load(Ordering::Relaxed));
        self.started.elapsed().saturating_sub(last_active)
    }
}

/// Counts a request as in flight until dropped (also when the request is cancelled).
struct RequestInFlight {
    activity: Arc<Activity>,
}

impl RequestInFlight {
    fn begin(activity: Arc<Activity>) -> RequestInFlight {
        activity.requests_in_flight.fetch_add(1, Ordering::Relaxed);
        RequestInFlight { activity }
    }
}

impl Drop for RequestInFlight {
    fn drop(&mut self) {
        self.activity.touch();
        self.activity
            .requests_in_flight
            .fetch_sub(1, Ordering::Relaxed);
    }
}

/// The accepted socket: notes activity, fails a write the client has not taken for
/// WriteTimeout (until upgraded), and holds the connection's place under the cap for as long
/// as the socket lives, websocket included.
struct TimedStream {
    stream: TcpStream,
    activity: Arc<Activity>,
    write_timeout: Duration,
    write_deadline: Option<Pin<Box<tokio::time::Sleep>>>,
    _permit: OwnedSemaphorePermit,
}

impl TimedStream {
    /// Turns a write that has waited WriteTimeout into an error; clears the wait otherwise.
    fn write_outcome<T>(
        &mut self,
        context: &mut Context<'_>,
        outcome: Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        match outcome {
            Poll::Ready(result) => {
                self.write_deadline = None;
                Poll::Ready(result)
            }
            Poll::Pending if self.activity.upgraded.load(Ordering::Relaxed) => {
                self.write_deadline = None;
                Poll::Pending
            }
            Poll::Pending => {
                let write_timeout = self.write_timeout;
                let deadline = self
                    .write_deadline
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(write_timeout)));
                match deadline.as_mut().poll(context) {
                    Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "the client did not take the response within WriteTimeout",
                    ))),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }
}

impl AsyncRead for TimedStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
        buffer: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let filled_before = buffer.filled().len();
        let outcome = Pin::new(&mut self.stream).poll_read(context, buffer);
        if matches!(outcome, Poll::Ready(Ok(()))) && buffer.filled().len() > filled_before {
            self.activity.touch();
        }
        outcome
    }
}

impl AsyncWrite for TimedStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
        buffer: &[u8],
    ) -> Poll<io::Result<usize>> {
        let outcome = Pin::new(&mut self.stream).poll_write(context, buffer);
        if matches!(outcome, Poll::Ready(Ok(written)) if written > 0) {
            self.activity.touch();
        }
        self.write_outcome(context, outcome)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
        buffers: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let outcome = Pin::new(&mut self.stream).poll_write_vectored(context, buffers);
        if matches!(outcome, Poll::Ready(Ok(written)) if written > 0) {
            self.activity.touch();
        }
        self.write_outcome(context, outcome)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<io::Result<()>> {
        let outcome = Pin::new(&mut self.stream).poll_flush(context);
        self.write_outcome(context, outcome)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(context)
    }
}
