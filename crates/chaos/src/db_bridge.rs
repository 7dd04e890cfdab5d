//! The nodes' way to PostgreSQL. The test servers listen on 127.0.0.1 of the root namespace,
//! which a node inside its own namespace cannot reach; so inside each node's namespace this
//! process listens on 127.0.0.1 with the same ports and relays every connection to the root
//! namespace. The DataSource stays `127.0.0.1:P1,127.0.0.1:P2`, and a server that is down still
//! looks down: the relay closes the connection at once when it cannot reach it.

use std::net::{Ipv4Addr, SocketAddr};

use anyhow::Result;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use crate::net::Namespace;

/// Relays for one or more ports in one or more namespaces; stopped on drop.
#[derive(Default)]
pub struct DatabaseBridge {
    relays: Vec<JoinHandle<()>>,
}

impl DatabaseBridge {
    /// Relays 127.0.0.1:`port` inside `namespace` to 127.0.0.1:`port` here.
    pub fn add(&mut self, namespace: &Namespace, port: u16) -> Result<()> {
        let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let listener = TcpListener::from_std(namespace.bind(address)?)?;
        self.relays.push(tokio::spawn(relay(listener, address)));
        Ok(())
    }
}

impl Drop for DatabaseBridge {
    fn drop(&mut self) {
        for relay in &self.relays {
            relay.abort();
        }
    }
}

async fn relay(listener: TcpListener, target: SocketAddr) {
    loop {
        let Ok((mut inbound, _)) = listener.accept().await else {
            continue;
        };
        tokio::spawn(async move {
            let Ok(mut outbound) = TcpStream::connect(target).await else {
                return;
            };
            let _ = inbound.set_nodelay(true);
            let _ = outbound.set_nodelay(true);
            let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
        });
    }
}
