use chorus_config::ClusterSettings;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

/// Everything [`crate::Cluster::start`] needs, built by the server from `ClusterSettings` and
/// facts about this process ([`ClusterOptions::from_settings`] does the usual part).
#[derive(Clone, Debug)]
pub struct ClusterOptions {
    /// Only nodes with the same name join each other. Must not be empty.
    pub cluster_name: String,
    /// This process's id (26 characters, new at every start).
    pub node_id: String,
    /// The host other nodes use to reach this one (see [`advertise_host`]); must resolve.
    pub hostname: String,
    /// Local address the gossip (UDP) and stream (TCP) sockets bind to.
    pub bind_address: String,
    /// UDP gossip and TCP node-to-node streams both use this port number. Not 0.
    pub gossip_port: u16,
    /// This node's HTTP address, published in gossip (for cluster status).
    pub api_address: String,
    pub version: String,
    pub schema_version: i32,
    /// Hash of the configuration without ClusterSettings (`Config::hash`).
    pub config_hash: String,
    /// Encrypt and authenticate gossip datagrams with the cluster key. Node-to-node streams are
    /// always encrypted and authenticated, whatever this says.
    pub enable_gossip_encryption: bool,
    pub enable_gossip_compression: bool,
    /// A peer from which no heartbeat arrived for this long is reported down.
    pub failure_timeout: Duration,
    /// How often gossip rounds run (each round talks to up to 3 peers).
    pub gossip_interval: Duration,
    /// How long a down peer stays listed (as not alive) and keeps its queue of reliable
    /// messages, in case it comes back (a paused process); then it is forgotten.
    pub dead_node_grace_period: Duration,
    /// How often this node refreshes its discovery row and re-reads the table.
    pub discovery_ping_interval: Duration,
    /// Discovery rows not refreshed for this long are deleted (a node that died without
    /// deregistering).
    pub discovery_stale_after: Duration,
    /// Gossip addresses (`host:port`) to seed membership with besides the discovery table's:
    /// Mattermost 3.x's `InterNodeUrls`.
    pub static_seeds: Vec<String>,
    /// Bound on the messages waiting for one peer (queued plus sent but not acknowledged).
    /// When full, queued best-effort messages are dropped first, then new reliable ones.
    pub max_queued_messages_per_peer: usize,
}

impl Default for ClusterOptions {
    fn default() -> Self {
        ClusterOptions {
            cluster_name: String::new(),
            node_id: String::new(),
            hostname: "127.0.0.1".to_string(),
            bind_address: "0.0.0.0".to_string(),
            gossip_port: 8074,
            api_address: String::new(),
            version: String::new(),
            schema_version: 0,
            config_hash: String::new(),
            enable_gossip_encryption: true,
            enable_gossip_compression: true,
            failure_timeout: Duration::from_secs(2),
            gossip_interval: Duration::from_millis(200),
            dead_node_grace_period: Duration::from_secs(60),
            discovery_ping_interval: Duration::from_secs(5),
            discovery_stale_after: Duration::from_secs(30),
            static_seeds: Vec::new(),
            max_queued_messages_per_peer: 10_000,
        }
    }
}

impl ClusterOptions {
    /// Options from `ClusterSettings` plus this process's facts; timings keep their defaults.
    pub fn from_settings(
        settings: &ClusterSettings,
        node_id: &str,
        api_address: &str,
        version: &str,
        schema_version: i32,
        config_hash: &str,
    ) -> ClusterOptions {
        let gossip_port = gossip_port(settings);
        let static_seeds = static_seeds(settings, gossip_port);
        ClusterOptions {
            cluster_name: settings.cluster_name.trim().to_string(),
            node_id: node_id.to_string(),
            hostname: advertise_host(settings),
            bind_address: bind_address(settings),
            gossip_port,
            api_address: api_address.to_string(),
            version: version.to_string(),
            schema_version,
            config_hash: config_hash.to_string(),
            enable_gossip_encryption: settings.enable_gossip_encryption
                || settings.enable_experimental_gossip_encryption,
            enable_gossip_compression: settings.enable_gossip_compression,
            static_seeds,
            ..ClusterOptions::default()
        }
    }
}

/// `GossipPort`, unless a Mattermost 3.x file names the inter-node port in
/// `InterNodeListenAddress` (its peers' `InterNodeUrls` then name that port): so an old
/// configuration still forms a cluster.
fn gossip_port(settings: &ClusterSettings) -> u16 {
    let configured = u16::try_from(settings.gossip_port).unwrap_or(8074);
    let inter_node = settings.inter_node_listen_address.trim();
    if inter_node.is_empty() {
        return configured;
    }
    match inter_node
        .rsplit_once(':')
        .and_then(|(_, port)| port.parse::<u16>().ok())
    {
        Some(port) if port != 0 => {
            if port != configured {
                tracing::warn!(
                    inter_node_listen_address = %inter_node,
                    gossip_port = configured,
                    "ClusterSettings.InterNodeListenAddress (Mattermost 3.x) sets the gossip port to {port}; set GossipPort instead"
                );
            }
            port
        }
        _ => configured,
    }
}

/// Mattermost 3.x's `InterNodeUrls` (`http://10.10.10.2:8075`) as gossip seeds: the host, and
/// the URL's port (else this node's gossip port). Seeds only help a node find its first peer;
/// the discovery table does that already, hence the warning.
fn static_seeds(settings: &ClusterSettings, gossip_port: u16) -> Vec<String> {
    let mut seeds = Vec::new();
    for url in &settings.inter_node_urls {
        let Some((host, port)) = chorus_config::inter_node_url_host_port(url) else {
            tracing::warn!(url = %url, "ignoring ClusterSettings.InterNodeUrls entry that is not http://host[:port]");
            continue;
        };
        let port = port.unwrap_or(gossip_port);
        let seed = if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        seeds.push(seed);
    }
    if !seeds.is_empty() {
        tracing::warn!(
            seeds = ?seeds,
            "ClusterSettings.InterNodeUrls (Mattermost 3.x) seed the gossip membership; nodes find each other through the ClusterDiscovery table, so the list can go"
        );
    }
    seeds
}

/// Whether a node takes traffic; published in gossip.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Readiness {
    Serving,
    /// Shutting down: finishing in-flight work, refusing new connections.
    Draining,
}

impl Readiness {
    pub fn as_str(self) -> &'static str {
        match self {
            Readiness::Serving => "serving",
            Readiness::Draining => "draining",
        }
    }

    pub(crate) fn parse(text: &str) -> Readiness {
        if text == "draining" {
            Readiness::Draining
        } else {
            Readiness::Serving
        }
    }
}

impl std::fmt::Display for Readiness {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(self.as_str())
    }
}

/// The host this node advertises, by Mattermost's rule: `OverrideHostname` if set; otherwise,
/// with `UseIPAddress`, `AdvertiseAddress` if set, else the first non-loopback IPv4 address of
/// `NetworkInterface` (or of any interface when that is empty); otherwise the OS hostname.
pub fn advertise_host(settings: &ClusterSettings) -> String {
    let override_hostname = settings.override_hostname.trim();
    if !override_hostname.is_empty() {
        return override_hostname.to_string();
    }
    if settings.use_ip_address {
        let advertise_address = settings.advertise_address.trim();
        if !advertise_address.is_empty() {
            return advertise_address.to_string();
        }
        if let Some(address) = first_non_loopback_ipv4(settings.network_interface.trim()) {
            return address.to_string();
        }
        tracing::warn!(
            network_interface = %settings.network_interface,
            "no non-loopback IPv4 address found, advertising the hostname"
        );
    }
    os_hostname()
}

/// The local address cluster sockets bind to, from what the config says:
/// - `BindAddress` when it is an IP address; the IPv4 address of the interface it names, when
///   it names one; otherwise the name itself, as a host name to resolve (`Cluster::start`
///   fails if it does not), never silently every interface;
/// - with `BindAddress` empty, the IPv4 address of `NetworkInterface` when that is set (the
///   interface cluster traffic is meant to use), else every interface (`0.0.0.0`), as
///   Mattermost binds.
pub fn bind_address(settings: &ClusterSettings) -> String {
    let configured = settings.bind_address.trim();
    if configured.is_empty() {
        let network_interface = settings.network_interface.trim();
        if network_interface.is_empty() {
            return Ipv4Addr::UNSPECIFIED.to_string();
        }
        return match interface_ipv4(network_interface, true) {
            Some(address) => address.to_string(),
            // Not an interface of this host: resolved (or refused) as a host name.
            None => network_interface.to_string(),
        };
    }
    if configured.parse::<IpAddr>().is_ok() {
        return configured.to_string();
    }
    match interface_ipv4(configured, true) {
        Some(address) => address.to_string(),
        None => configured.to_string(),
    }
}

fn os_hostname() -> String {
    hostname::get()
        .ok()
        .and_then(|name| name.into_string().ok())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "localhost".to_string())
}

/// First non-loopback IPv4 address of the named interface, or of any interface when `name` is
/// empty.
pub(crate) fn first_non_loopback_ipv4(name: &str) -> Option<Ipv4Addr> {
    interface_ipv4(name, false)
}

fn interface_ipv4(name: &str, allow_loopback: bool) -> Option<Ipv4Addr> {
    let interfaces = match if_addrs::get_if_addrs() {
        Ok(interfaces) => interfaces,
        Err(error) => {
            tracing::warn!(error = %error, "cannot list network interfaces");
            return None;
        }
    };
    for interface in interfaces {
        if !name.is_empty() && interface.name != name {
            continue;
        }
        if interface.is_loopback() && !allow_loopback {
            continue;
        }
        if let IpAddr::V4(address) = interface.ip() {
            return Some(address);
        }
    }
    None
}

#[cfg(test)]
mod bind_tests {
    use super::*;

    #[test]
    fn mattermost_3_peers_seed_gossip() {
        let settings = ClusterSettings {
            inter_node_listen_address: ":8075".to_string(),
            inter_node_urls: vec![
                "http://10.10.10.2:8075".to_string(),
                "http://node-c.example.com".to_string(),
                "http://[fd00::4]:8075/".to_string(),
            ],
            ..ClusterSettings::default()
        };
        let options = ClusterOptions::from_settings(&settings, "id", "127.0.0.1:8065", "1", 1, "h");
        assert_eq!(options.gossip_port, 8075);
        assert_eq!(
            options.static_seeds,
            [
                "10.10.10.2:8075",
                "node-c.example.com:8075",
                "[fd00::4]:8075"
            ]
        );
        let current = ClusterOptions::from_settings(
            &ClusterSettings::default(),
            "id",
            "127.0.0.1:8065",
            "1",
            1,
            "h",
        );
        assert_eq!(current.gossip_port, 8074);
        assert!(current.static_seeds.is_empty());
    }

    fn settings(bind_address: &str, network_interface: &str) -> ClusterSettings {
        ClusterSettings {
            bind_address: bind_address.to_string(),
            network_interface: network_interface.to_string(),
            ..ClusterSettings::default()
        }
    }

    #[test]
    fn binds_where_the_config_says() {
        assert_eq!(bind_address(&settings("", "")), "0.0.0.0");
        assert_eq!(bind_address(&settings("127.0.0.1", "")), "127.0.0.1");
        assert_eq!(bind_address(&settings("lo", "")), "127.0.0.1");
        assert_eq!(bind_address(&settings("", "lo")), "127.0.0.1");
        assert_eq!(bind_address(&settings("127.0.0.1", "lo")), "127.0.0.1");
        // A name that is no interface is kept (to be resolved, or refused), not widened.
        assert_eq!(
            bind_address(&settings("no-such-interface0", "")),
            "no-such-interface0"
        );
        assert_eq!(
            bind_address(&settings("", "no-such-interface0")),
            "no-such-interface0"
        );
    }
}
