//! A TCP proxy in front of PostgreSQL that can cut one node off: it silently drops the bytes of
//! one or both directions while keeping the sockets open, as a network partition does (nothing
//! is refused or reset, requests just never get an answer).

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Link {
    Up = 0,
    /// Requests never reach the database.
    DropRequests = 1,
    /// Requests reach the database and run; their answers never come back.
    DropResponses = 2,
}

pub struct FaultyProxy {
    pub port: u16,
    link: Arc<AtomicU8>,
    accept_task: JoinHandle<()>,
}

impl FaultyProxy {
    pub async fn start(target_port: u16) -> FaultyProxy {
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .await
            .expect("binding the proxy");
        let port = listener.local_addr().expect("proxy address").port();
        let link = Arc::new(AtomicU8::new(Link::Up as u8));
        let accept_link = link.clone();
        let accept_task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = TcpStream::connect(("127.0.0.1", target_port)).await else {
                    continue;
                };
                let (client_read, client_write) = client.into_split();
                let (server_read, server_write) = server.into_split();
                tokio::spawn(pump(
                    client_read,
                    server_write,
                    accept_link.clone(),
                    Link::DropRequests,
                ));
                tokio::spawn(pump(
                    server_read,
                    client_write,
                    accept_link.clone(),
                    Link::DropResponses,
                ));
            }
        });
        FaultyProxy {
            port,
            link,
            accept_task,
        }
    }

    pub fn set(&self, link: Link) {
        self.link.store(link as u8, Ordering::SeqCst);
    }

    /// `url` with the port of this proxy instead of the database's.
    pub fn url_through(&self, url: &str, database_port: u16) -> String {
        url.replace(&format!(":{database_port}/"), &format!(":{}/", self.port))
    }
}

impl Drop for FaultyProxy {
    fn drop(&mut self) {
        self.accept_task.abort();
    }
}

/// Copies one direction, discarding the bytes while `link` says this direction is cut.
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    link: Arc<AtomicU8>,
    cut_when: Link,
) {
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        let read = match from.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(read) => read,
        };
        let current = link.load(Ordering::SeqCst);
        if current == cut_when as u8 {
            continue;
        }
        if to.write_all(&buffer[..read]).await.is_err() {
            return;
        }
    }
}
