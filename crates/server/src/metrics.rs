//! The metrics listener (MetricsSettings): `GET /metrics` in the Prometheus text format on a
//! port of its own, so the API port's balancer, rate limits and timeouts do not apply to
//! scrapes, and the port can be firewalled to the Prometheus hosts. Also the metrics only the
//! server can read: jobs and leadership.

use std::net::SocketAddr;

use axum::http::header::CONTENT_TYPE;
use axum::routing::get;
use axum::Router;
use chorus_app::metrics::{Metrics, Sample, SampleKind, Sampler};
use chorus_jobs::{JobServer, LeaderLease};
use tokio::task::JoinHandle;

/// Binds `listen_address` and serves `/metrics` until the task is aborted.
pub(crate) async fn serve(
    listen_address: &str,
    metrics: Metrics,
) -> anyhow::Result<(SocketAddr, JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind(listen_address).await?;
    let address = listener.local_addr()?;
    let router = Router::new().route(
        "/metrics",
        get(move || {
            let metrics = metrics.clone();
            async move { ([(CONTENT_TYPE, Metrics::CONTENT_TYPE)], metrics.encode()) }
        }),
    );
    let server = tokio::spawn(async move {
        if let Err(error) = axum::serve(listener, router).await {
            tracing::error!(error = %error, "metrics listener stopped");
        }
    });
    Ok((address, server))
}

/// `mattermost_jobs_active` by type, and this node's part in leadership.
pub(crate) fn jobs_and_leadership(jobs: JobServer, lease: LeaderLease) -> Sampler {
    Box::new(move |samples| {
        let active = jobs
            .active_jobs()
            .into_iter()
            .map(|(job_type, count)| (vec![("type", job_type)], count as f64))
            .collect();
        samples.push(Sample::labelled(
            "mattermost_jobs_active",
            "Number of active jobs",
            SampleKind::Gauge,
            active,
        ));
        samples.push(Sample::gauge(
            "chorus_leader",
            "1 while this node holds the leader lease (runs the job scheduler), else 0",
            if lease.is_leader() { 1.0 } else { 0.0 },
        ));
        if let Some(term) = lease.current_term() {
            samples.push(Sample::gauge(
                "chorus_leader_term",
                "Fencing term of the leader lease as this node last saw it; it grows at every change of leader",
                term as f64,
            ));
        }
    })
}
