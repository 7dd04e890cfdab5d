//! This node's Prometheus metrics: one registry per node (several in-process test nodes keep
//! theirs apart), served as Prometheus text by the server's metrics listener
//! (MetricsSettings).
//!
//! Where Mattermost has a metric for the same thing, it has Mattermost's name and labels, so
//! the dashboards Mattermost operators run keep working; `chorus_*` metrics cover what
//! Mattermost lacks (gossip, resumes, replica rotation). Two kinds:
//!
//! - **Counted on the hot path** (requests, posts, logins, broadcasts): atomics behind
//!   prometheus-client's types, a few hundred nanoseconds per request (docs/benchmarks.md).
//! - **Sampled at scrape time** ([`Metrics::add_sampler`]): gauges and counters that other parts
//!   keep anyway (pool sizes, replica lag, cluster stats, resume counts) are read when
//!   Prometheus asks, costing nothing in between.

use std::sync::{Arc, Weak};
use std::time::Duration;

use parking_lot::RwLock;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

use crate::AppInner;

/// Prometheus client_golang's default buckets, which Mattermost's histograms use: the same
/// bucket bounds keep `histogram_quantile` over Mattermost's and Chorus's series comparable.
const DEFAULT_BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// `mattermost_api_time`'s labels, as Mattermost names them. `handler` is the route
/// (`/api/v4/channels/{channel_id}/posts`) where Mattermost has its handler's Go name.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ApiLabels {
    handler: String,
    method: String,
    status_code: String,
    origin_client: String,
    page_load_context: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct NameLabel {
    name: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabel {
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatementLabel {
    statement: &'static str,
}

/// One metric read at scrape time: its name (a counter's without `_total`, which the encoder
/// adds), help, type and one value per label set.
pub struct Sample {
    pub name: &'static str,
    pub help: &'static str,
    pub kind: SampleKind,
    pub points: Vec<(Vec<(&'static str, String)>, f64)>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SampleKind {
    Gauge,
    Counter,
}

impl Sample {
    pub fn gauge(name: &'static str, help: &'static str, value: f64) -> Sample {
        Sample {
            name,
            help,
            kind: SampleKind::Gauge,
            points: vec![(Vec::new(), value)],
        }
    }

    pub fn counter(name: &'static str, help: &'static str, value: f64) -> Sample {
        Sample {
            name,
            help,
            kind: SampleKind::Counter,
            points: vec![(Vec::new(), value)],
        }
    }

    pub fn labelled(
        name: &'static str,
        help: &'static str,
        kind: SampleKind,
        points: Vec<(Vec<(&'static str, String)>, f64)>,
    ) -> Sample {
        Sample {
            name,
            help,
            kind,
            points,
        }
    }
}

/// Reads some metrics at scrape time.
pub type Sampler = Box<dyn Fn(&mut Vec<Sample>) + Send + Sync>;

/// The metrics of one node. Cheap to clone.
#[derive(Clone)]
pub struct Metrics {
    inner: Arc<MetricsInner>,
}

struct MetricsInner {
    registry: Registry,
    samplers: Arc<RwLock<Vec<Sampler>>>,
    http_requests: Counter,
    http_errors: Counter,
    api_time: Family<ApiLabels, Histogram, fn() -> Histogram>,
    posts: Counter,
    post_broadcasts: Counter,
    logins: Counter,
    logins_failed: Counter,
    websocket_broadcasts: Family<NameLabel, Counter>,
    cluster_requests_duration: Histogram,
    webhook_posts: Counter,
    outgoing_deliveries: Family<OutcomeLabel, Counter>,
    outgoing_delivery_seconds: Histogram,
    post_writes: Family<StatementLabel, Counter>,
    post_batches: Counter,
}

fn default_histogram() -> Histogram {
    Histogram::new(DEFAULT_BUCKETS)
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::default();
        let http_requests = Counter::default();
        registry.register(
            "mattermost_http_requests",
            "The total number of http API requests",
            http_requests.clone(),
        );
        let http_errors = Counter::default();
        registry.register(
            "mattermost_http_errors",
            "The total number of http API errors",
            http_errors.clone(),
        );
        let api_time = Family::<ApiLabels, Histogram, fn() -> Histogram>::new_with_constructor(
            default_histogram,
        );
        registry.register(
            "mattermost_api_time",
            "Time to execute the api handler",
            api_time.clone(),
        );
        let posts = Counter::default();
        registry.register(
            "mattermost_post",
            "The total number of posts created",
            posts.clone(),
        );
        let post_broadcasts = Counter::default();
        registry.register(
            "mattermost_post_broadcasts",
            "The total number of websocket broadcasts sent because a post was created",
            post_broadcasts.clone(),
        );
        let logins = Counter::default();
        registry.register(
            "mattermost_login_logins",
            "The total number of successful logins",
            logins.clone(),
        );
        let logins_failed = Counter::default();
        registry.register(
            "mattermost_login_logins_fail",
            "The total number of failed logins",
            logins_failed.clone(),
        );
        let websocket_broadcasts = Family::<NameLabel, Counter>::default();
        registry.register(
            "mattermost_websocket_broadcasts",
            "The total number of websocket broadcasts sent for any type",
            websocket_broadcasts.clone(),
        );
        let cluster_requests_duration = default_histogram();
        registry.register(
            "mattermost_cluster_cluster_request_duration_seconds",
            "The total duration in seconds of the inter-node cluster requests",
            cluster_requests_duration.clone(),
        );
        let webhook_posts = Counter::default();
        registry.register(
            "chorus_webhook_posts",
            "Posts made by incoming webhooks (Mattermost's mattermost_post_webhooks_totals)",
            webhook_posts.clone(),
        );
        let outgoing_deliveries = Family::<OutcomeLabel, Counter>::default();
        registry.register(
            "chorus_outgoing_webhook_attempts",
            "Outgoing webhook delivery attempts this node made, by outcome (delivered, retry, given_up)",
            outgoing_deliveries.clone(),
        );
        let outgoing_delivery_seconds = default_histogram();
        registry.register(
            "chorus_outgoing_webhook_delivery_seconds",
            "Seconds from a triggering post to its delivery's acknowledgement",
            outgoing_delivery_seconds.clone(),
        );
        let post_writes = Family::<StatementLabel, Counter>::default();
        registry.register(
            "chorus_post_writes",
            "Posts stored by this node, by statement: batched (root posts of several channels in one statement) or single",
            post_writes.clone(),
        );
        let post_batches = Counter::default();
        registry.register(
            "chorus_post_batches",
            "Statements that stored several root posts at once (see chorus_post_writes)",
            post_batches.clone(),
        );
        let samplers: Arc<RwLock<Vec<Sampler>>> = Arc::default();
        registry.register_collector(Box::new(SampledMetrics {
            samplers: samplers.clone(),
        }));
        Metrics {
            inner: Arc::new(MetricsInner {
                registry,
                samplers,
                http_requests,
                http_errors,
                api_time,
                posts,
                post_broadcasts,
                logins,
                logins_failed,
                websocket_broadcasts,
                cluster_requests_duration,
                webhook_posts,
                outgoing_deliveries,
                outgoing_delivery_seconds,
                post_writes,
                post_batches,
            }),
        }
    }

    /// One HTTP request answered: `handler` is its route, `status` its status code.
    pub fn observe_request(&self, handler: &str, method: &str, status: u16, elapsed: Duration) {
        let inner = &self.inner;
        inner.http_requests.inc();
        if status >= 400 {
            inner.http_errors.inc();
        }
        let labels = ApiLabels {
            handler: handler.to_string(),
            method: method.to_string(),
            status_code: status.to_string(),
            origin_client: String::new(),
            page_load_context: String::new(),
        };
        inner
            .api_time
            .get_or_create(&labels)
            .observe(elapsed.as_secs_f64());
    }

    /// A post was created here (and its `posted` event published).
    pub fn post_created(&self) {
        self.inner.posts.inc();
        self.inner.post_broadcasts.inc();
    }

    /// `posts` posts were stored by one statement (`batched` when more than one).
    pub(crate) fn posts_written(&self, posts: usize) {
        let statement = if posts > 1 { "batched" } else { "single" };
        self.inner
            .post_writes
            .get_or_create(&StatementLabel { statement })
            .inc_by(posts as u64);
        if posts > 1 {
            self.inner.post_batches.inc();
        }
    }

    /// A post made by an incoming webhook.
    pub fn webhook_post(&self) {
        self.inner.webhook_posts.inc();
    }

    /// An outgoing webhook attempt ended with `outcome`; `since_post` when it was acknowledged.
    pub fn outgoing_attempt(&self, outcome: &str, since_post: Option<Duration>) {
        self.inner
            .outgoing_deliveries
            .get_or_create(&OutcomeLabel {
                outcome: outcome.to_string(),
            })
            .inc();
        if let Some(elapsed) = since_post {
            self.inner
                .outgoing_delivery_seconds
                .observe(elapsed.as_secs_f64());
        }
    }

    pub fn login(&self, succeeded: bool) {
        if succeeded {
            self.inner.logins.inc();
        } else {
            self.inner.logins_failed.inc();
        }
    }

    /// An event this node published (each event counts once, on the node it started on).
    pub fn broadcast(&self, event_name: &str) {
        let labels = NameLabel {
            name: event_name.to_string(),
        };
        self.inner.websocket_broadcasts.get_or_create(&labels).inc();
    }

    pub(crate) fn cluster_request(&self, elapsed: Duration) {
        self.inner
            .cluster_requests_duration
            .observe(elapsed.as_secs_f64());
    }

    /// Adds metrics read at every scrape.
    pub fn add_sampler(&self, sampler: Sampler) {
        self.inner.samplers.write().push(sampler);
    }

    /// Everything, in the Prometheus text format (version 0.0.4).
    pub fn encode(&self) -> String {
        let mut text = String::with_capacity(16 * 1024);
        // Writing into a String only fails if a metric's encoding does, which ours do not.
        let _ =
            prometheus_client::encoding::prometheus_text::encode(&mut text, &self.inner.registry);
        text
    }

    /// The Content-Type of [`Metrics::encode`].
    pub const CONTENT_TYPE: &'static str =
        prometheus_client::encoding::prometheus_text::CONTENT_TYPE;
}

struct SampledMetrics {
    samplers: Arc<RwLock<Vec<Sampler>>>,
}

impl std::fmt::Debug for SampledMetrics {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("SampledMetrics")
    }
}

impl Collector for SampledMetrics {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let mut samples = Vec::new();
        for sampler in self.samplers.read().iter() {
            sampler(&mut samples);
        }
        for sample in samples {
            let metric_type = match sample.kind {
                SampleKind::Gauge => MetricType::Gauge,
                SampleKind::Counter => MetricType::Counter,
            };
            let mut metric_encoder =
                encoder.encode_descriptor(sample.name, sample.help, None, metric_type)?;
            for (labels, value) in &sample.points {
                let point_encoder = metric_encoder.encode_family(labels)?;
                match sample.kind {
                    SampleKind::Gauge => ConstGauge::new(*value).encode(point_encoder)?,
                    SampleKind::Counter => ConstCounter::new(*value).encode(point_encoder)?,
                }
            }
        }
        Ok(())
    }
}

/// What the app itself knows: websockets, database pools and replicas, resumes, drain, the
/// cluster's view, this process.
pub(crate) fn app_sampler(app: Weak<AppInner>) -> Sampler {
    let started_at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|since| since.as_secs_f64())
        .unwrap_or_default();
    Box::new(move |samples| {
        let Some(inner) = app.upgrade() else {
            return;
        };
        let app = crate::App::from_inner(inner);
        samples.push(Sample::gauge(
            "mattermost_system_server_start_time",
            "The time the server started",
            started_at,
        ));
        sample_websockets(&app, samples);
        sample_database(&app, samples);
        sample_cluster(&app, samples);
        sample_process(samples);
    })
}

fn sample_websockets(app: &crate::App, samples: &mut Vec<Sample>) {
    let hub = app.hub();
    samples.push(Sample::labelled(
        "mattermost_http_websockets_total",
        "The total number of websocket connections to this server",
        SampleKind::Gauge,
        vec![(
            vec![("origin_client", String::new())],
            hub.connection_count() as f64,
        )],
    ));
    samples.push(Sample::gauge(
        "chorus_websocket_parked_connections",
        "Websocket connections whose socket closed, kept for their client to resume",
        hub.parked_connection_count() as f64,
    ));
    let resumes = hub.resume_counts();
    samples.push(Sample::labelled(
        "chorus_websocket_resumes",
        "Websocket resume attempts by how they ended: replayed from this node (local), handed over by another node (handover), rebuilt from the database (rebuilt), or a new connection that makes the client resync (resync)",
        SampleKind::Counter,
        vec![
            (vec![("path", "local".to_string())], resumes.local as f64),
            (vec![("path", "handover".to_string())], resumes.handed_over as f64),
            (vec![("path", "rebuilt".to_string())], resumes.rebuilt as f64),
            (vec![("path", "resync".to_string())], resumes.resync as f64),
        ],
    ));
    let draining = app.is_draining();
    samples.push(Sample::gauge(
        "chorus_node_draining",
        "1 while this node drains (ping answers 503, websockets handed over), else 0",
        if draining { 1.0 } else { 0.0 },
    ));
}

fn sample_database(app: &crate::App, samples: &mut Vec<Sample>) {
    use chorus_store::Role;
    let status = app.store().status();
    let open_of = |role: Role| -> f64 {
        status
            .replicas
            .iter()
            .filter(|replica| replica.role == role)
            .map(|replica| replica.pool_open as f64)
            .sum()
    };
    samples.push(Sample::gauge(
        "mattermost_db_master_connections_total",
        "The total number of connections to the master database",
        status.master.pool_open as f64,
    ));
    samples.push(Sample::gauge(
        "mattermost_db_read_replica_connections_total",
        "The total number of connections to all the read replica databases",
        open_of(Role::Replica),
    ));
    samples.push(Sample::gauge(
        "mattermost_db_search_replica_connections_total",
        "The total number of connections to the search replica database",
        open_of(Role::SearchReplica),
    ));
    let replica_points = |value: &dyn Fn(&chorus_store::SourceStatus) -> f64| {
        status
            .replicas
            .iter()
            .map(|replica| (vec![("node", replica.source.clone())], value(replica)))
            .collect::<Vec<_>>()
    };
    samples.push(Sample::labelled(
        "mattermost_db_replica_lag_time",
        "A time unit for measuring replica lag",
        SampleKind::Gauge,
        replica_points(&|replica| replica.lag_seconds.unwrap_or_default()),
    ));
    samples.push(Sample::labelled(
        "mattermost_db_replica_lag_abs",
        "An abstract unit for measuring replica lag",
        SampleKind::Gauge,
        replica_points(&|replica| replica.lag_bytes.unwrap_or_default() as f64),
    ));
    samples.push(Sample::gauge(
        "chorus_db_replicas_in_rotation",
        "Read and search replicas currently serving reads (reachable, not too far behind)",
        status
            .replicas
            .iter()
            .filter(|replica| replica.in_rotation)
            .count() as f64,
    ));
    samples.push(Sample::gauge(
        "chorus_db_read_your_writes_keys",
        "Keys (users, channels, teams) whose reads are held to a fresh source",
        status.read_your_writes_keys as f64,
    ));
    let all_sources: Vec<&chorus_store::SourceStatus> = std::iter::once(&status.master)
        .chain(status.replicas.iter())
        .collect();
    let source_points = |value: &dyn Fn(&chorus_store::SourceStatus) -> f64| {
        all_sources
            .iter()
            .map(|source| {
                let role = match source.role {
                    Role::Master => "master",
                    Role::Replica => "replica",
                    Role::SearchReplica => "search_replica",
                };
                (
                    vec![
                        ("source", source.source.clone()),
                        ("role", role.to_string()),
                    ],
                    value(source),
                )
            })
            .collect::<Vec<_>>()
    };
    samples.push(Sample::labelled(
        "chorus_db_probe_seconds",
        "Round trip of the replica monitor's last probe query, per data source",
        SampleKind::Gauge,
        source_points(&|source| source.probe_seconds),
    ));
    samples.push(Sample::labelled(
        "chorus_db_checkouts",
        "Connections handed to queries, per data source",
        SampleKind::Counter,
        source_points(&|source| source.checkouts as f64),
    ));
    samples.push(Sample::labelled(
        "chorus_db_checkout_wait_seconds",
        "Time queries waited for a pooled connection, per data source",
        SampleKind::Counter,
        source_points(&|source| source.checkout_wait_seconds),
    ));
}

fn sample_cluster(app: &crate::App, samples: &mut Vec<Sample>) {
    let Some(runtime) = app.cluster_runtime() else {
        return;
    };
    let members = runtime.cluster.members();
    samples.push(Sample::gauge(
        "chorus_cluster_members_alive",
        "Cluster members (this node included) gossip reports alive",
        members.iter().filter(|member| member.alive).count() as f64,
    ));
    samples.push(Sample::gauge(
        "chorus_cluster_members",
        "Cluster members known, alive or not",
        members.len() as f64,
    ));
    let stats = runtime.cluster.stats();
    samples.push(Sample::counter(
        "mattermost_cluster_cluster_requests",
        "The total number of inter-node requests",
        (stats.reliable_delivered + stats.best_effort_delivered) as f64,
    ));
    samples.push(Sample::counter(
        "chorus_cluster_stream_messages_sent",
        "Messages this node wrote to its node-to-node streams (acknowledgements not counted)",
        stats.stream_messages_sent as f64,
    ));
    samples.push(Sample::counter(
        "chorus_cluster_stream_bytes_sent",
        "Bytes of the messages this node wrote to its node-to-node streams, before encryption",
        stats.stream_bytes_sent as f64,
    ));
    let forwarding = app.inner.relay.forwarding_counts();
    samples.push(Sample::labelled(
        "chorus_cluster_posts_forwarded",
        "Posts this node sent to a peer: in full (a client there wants the channel) or passed (only that it exists)",
        SampleKind::Counter,
        vec![
            (vec![("form", "full".to_string())], forwarding.posts_sent_full as f64),
            (vec![("form", "passed".to_string())], forwarding.posts_sent_passed as f64),
        ],
    ));
    samples.push(Sample::counter(
        "chorus_cluster_passed_posts_read",
        "Posts a peer passed to this node that a client here wanted after all, read from the database",
        forwarding.passed_posts_read as f64,
    ));
    samples.push(Sample::gauge(
        "chorus_cluster_channels_wanted",
        "Channels whose posts this node asks its peers for in full (its websocket clients' channels)",
        forwarding.channels_wanted as f64,
    ));
    samples.push(Sample::counter(
        "chorus_cluster_failure_detections",
        "Peers this node's failure detector declared down",
        stats.failure_detections as f64,
    ));
    samples.push(Sample::counter(
        "chorus_cluster_retransmits",
        "Reliable node messages sent again on a new connection because the old one lost them",
        stats.reliable_resent as f64,
    ));
    samples.push(Sample::counter(
        "chorus_cluster_message_gaps",
        "Times a peer's reliable messages to this node were found skipped (caches dropped, websocket clients resynced)",
        stats.reliable_gaps as f64,
    ));
    samples.push(Sample::labelled(
        "chorus_cluster_messages_dropped",
        "Node messages dropped, by reliability",
        SampleKind::Counter,
        vec![
            (
                vec![("reliability", "reliable".to_string())],
                stats.reliable_dropped as f64,
            ),
            (
                vec![("reliability", "best_effort".to_string())],
                stats.best_effort_dropped as f64,
            ),
        ],
    ));
}

/// Mattermost's process metrics (client_golang's process collector with its namespace), from
/// /proc. In-process test nodes share one process, so they report the same values.
fn sample_process(samples: &mut Vec<Sample>) {
    if let Ok(entries) = std::fs::read_dir("/proc/self/fd") {
        samples.push(Sample::gauge(
            "mattermost_process_open_fds",
            "Number of open file descriptors",
            entries.count() as f64,
        ));
    }
    if let Some(max_fds) = max_open_files() {
        samples.push(Sample::gauge(
            "mattermost_process_max_fds",
            "Maximum number of open file descriptors",
            max_fds,
        ));
    }
    if let Some((cpu_seconds, resident_bytes)) = cpu_and_memory() {
        samples.push(Sample::counter(
            "mattermost_process_cpu_seconds",
            "Total user and system CPU time spent in seconds",
            cpu_seconds,
        ));
        samples.push(Sample::gauge(
            "mattermost_process_resident_memory_bytes",
            "Resident memory size in bytes",
            resident_bytes,
        ));
    }
}

fn max_open_files() -> Option<f64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits
        .lines()
        .find(|line| line.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// CPU seconds (user + system) and resident bytes, from /proc/self/stat.
fn cpu_and_memory() -> Option<(f64, f64)> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which may hold spaces), from field 3 on.
    let after_name = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // Linux reports CPU times in USER_HZ ticks (100 a second) and memory in pages (4 KiB on
    // the x86-64 and arm64 kernels Chorus is deployed on).
    let ticks_per_second = 100.0;
    let page_size = 4096.0;
    let user_ticks: f64 = fields.get(11)?.parse().ok()?;
    let system_ticks: f64 = fields.get(12)?.parse().ok()?;
    let resident_pages: f64 = fields.get(21)?.parse().ok()?;
    Some((
        (user_ticks + system_ticks) / ticks_per_second,
        resident_pages * page_size,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_mattermost_names_and_samples() {
        let metrics = Metrics::new();
        metrics.observe_request("/api/v4/users/me", "GET", 200, Duration::from_millis(3));
        metrics.observe_request("/api/v4/posts", "POST", 403, Duration::from_millis(1));
        metrics.post_created();
        metrics.login(false);
        metrics.broadcast("posted");
        metrics.add_sampler(Box::new(|samples| {
            samples.push(Sample::labelled(
                "chorus_example",
                "An example",
                SampleKind::Counter,
                vec![(vec![("path", "local".to_string())], 2.0)],
            ));
        }));
        let text = metrics.encode();
        for line in [
            "mattermost_http_requests_total 2",
            "mattermost_http_errors_total 1",
            "mattermost_post_total 1",
            "mattermost_login_logins_fail_total 1",
            "mattermost_websocket_broadcasts_total{name=\"posted\"} 1",
            "chorus_example_total{path=\"local\"} 2.0",
        ] {
            assert!(text.lines().any(|found| found == line), "{line} in\n{text}");
        }
        assert!(text.contains(
            "mattermost_api_time_bucket{handler=\"/api/v4/users/me\",method=\"GET\",status_code=\"200\",origin_client=\"\",page_load_context=\"\",le=\"0.005\"} 1"
        ), "{text}");
    }
}
