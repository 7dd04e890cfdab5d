//! Client websockets as the benchmarks open them: from a chosen 127.0.0.x source address,
//! authenticated by a bearer token on the upgrade, with small buffers, ready once `hello`
//! arrived; optionally acknowledging what they receive late, as many real clients' TCP stacks
//! do ([`Acks::Delayed`]).

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::os::fd::AsRawFd;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use futures_util::StreamExt;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::handshake::client::Response;
use tokio_tungstenite::tungstenite::http::header::AUTHORIZATION;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

/// Deadline for one connection: TCP connect, upgrade, and `hello`.
const OPEN_TIMEOUT: Duration = Duration::from_secs(30);

/// A benchmark client's websocket.
pub type ClientSocket = WebSocketStream<ClientStream>;

/// How a client's TCP stack acknowledges what it receives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Acks {
    /// Linux's default: at once while the connection is in quick-ack mode.
    Prompt,
    /// Late: the kernel's delayed-ACK timer (40 ms or more) decides, after every read. A
    /// server that leaves Nagle's algorithm on then holds each small frame sent while the
    /// previous one is unacknowledged until that timer fires: the latency this mode exists to
    /// expose (issue 17 item 1).
    Delayed,
}

/// The client's TCP stream, which re-arms delayed acknowledgements after every read in
/// [`Acks::Delayed`] mode (Linux resets `TCP_QUICKACK` by itself, so once is not enough).
pub struct ClientStream {
    tcp: TcpStream,
    acks: Acks,
}

impl ClientStream {
    fn delay_acks(&self) {
        let off: libc::c_int = 0;
        // SAFETY: a valid socket descriptor and a c_int option value of the right size.
        unsafe {
            libc::setsockopt(
                self.tcp.as_raw_fd(),
                libc::IPPROTO_TCP,
                libc::TCP_QUICKACK,
                (&off as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            );
        }
    }
}

impl AsyncRead for ClientStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let polled = Pin::new(&mut self.tcp).poll_read(cx, buf);
        if self.acks == Acks::Delayed && polled.is_ready() {
            self.delay_acks();
        }
        polled
    }
}

impl AsyncWrite for ClientStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.tcp).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_shutdown(cx)
    }
}

/// Opens one websocket from `source` and waits for its `hello`.
pub async fn open(
    server: SocketAddr,
    source: Ipv4Addr,
    url: &str,
    token: &str,
    acks: Acks,
) -> Result<ClientSocket> {
    let attempt = async {
        let (mut socket, _) = upgrade(server, source, url, token, acks).await?;
        loop {
            match socket.next().await {
                Some(Ok(Message::Text(text))) => {
                    let event: serde_json::Value = serde_json::from_str(&text)?;
                    if event["event"] == "hello" {
                        return Ok(socket);
                    }
                }
                Some(Ok(Message::Close(frame))) => bail!("closed before hello: {frame:?}"),
                Some(Ok(_)) => {}
                Some(Err(error)) => return Err(error.into()),
                None => bail!("closed before hello"),
            }
        }
    };
    tokio::time::timeout(OPEN_TIMEOUT, attempt)
        .await
        .map_err(|_| anyhow!("no hello within {OPEN_TIMEOUT:?}"))?
}

/// Connects from `source` and completes the upgrade (no deadline: the caller sets one); the
/// upgrade's answer carries the headers a proxy added.
pub async fn upgrade(
    server: SocketAddr,
    source: Ipv4Addr,
    url: &str,
    token: &str,
    acks: Acks,
) -> Result<(ClientSocket, Response)> {
    let socket = TcpSocket::new_v4()?;
    socket
        .bind(SocketAddr::new(source.into(), 0))
        .with_context(|| format!("binding a client socket to {source}"))?;
    let stream = socket.connect(server).await.context("connecting")?;
    stream.set_nodelay(true)?;
    let stream = ClientStream { tcp: stream, acks };
    if acks == Acks::Delayed {
        stream.delay_acks();
    }
    let mut request = url.into_client_request()?;
    request
        .headers_mut()
        .insert(AUTHORIZATION, format!("Bearer {token}").parse()?);
    // Small buffers: the client side holds every connection too (not measured, but 50,000
    // of tungstenite's default 128 KiB read buffers would be 6 GiB).
    let config = WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(0);
    tokio_tungstenite::client_async_with_config(request, stream, Some(config))
        .await
        .context("websocket upgrade")
}
