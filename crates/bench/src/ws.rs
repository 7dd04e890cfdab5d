//! Client websockets as the benchmarks open them: from a chosen 127.0.0.x source address,
//! authenticated by a bearer token on the upgrade, with small buffers, ready once `hello`
//! arrived.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use futures_util::StreamExt;
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::handshake::client::Response;
use tokio_tungstenite::tungstenite::http::header::AUTHORIZATION;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

/// Deadline for one connection: TCP connect, upgrade, and `hello`.
const OPEN_TIMEOUT: Duration = Duration::from_secs(30);

/// Opens one websocket from `source` and waits for its `hello`.
pub async fn open(
    server: SocketAddr,
    source: Ipv4Addr,
    url: &str,
    token: &str,
) -> Result<WebSocketStream<TcpStream>> {
    let attempt = async {
        let (mut socket, _) = upgrade(server, source, url, token).await?;
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
) -> Result<(WebSocketStream<TcpStream>, Response)> {
    let socket = TcpSocket::new_v4()?;
    socket
        .bind(SocketAddr::new(source.into(), 0))
        .with_context(|| format!("binding a client socket to {source}"))?;
    let stream = socket.connect(server).await.context("connecting")?;
    stream.set_nodelay(true)?;
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
