//! The summary block `all` prints for docs/benchmarks.md. It reads the scenarios' reports, so it
//! stands above them (the scenarios use `report` for their own tables).

use crate::report::{fmt_rate, fmt_thousands, Machine};
use crate::scenario::posts::PostsReport;
use crate::scenario::ws_idle::WsIdleReport;
use crate::stats::LoadResult;

/// The block `all` prints for docs/benchmarks.md: a markdown table of the headline figures.
pub fn summary_markdown(machine: &Machine, posts: &PostsReport, ws: &WsIdleReport) -> String {
    let mut out = String::from("== summary (markdown, for docs/benchmarks.md)\n\n");
    out.push_str(&format!(
        "Machine: {}\n\n",
        machine.text().trim_start_matches("machine: ")
    ));
    out.push_str("| figure | value |\n|---|---|\n");
    let raw = &posts.raw_insert;
    out.push_str(&format!(
        "| raw PostgreSQL single-row INSERT, {} connections | {} rows/s (p50 {:.2} ms, p99 {:.2} ms) |\n",
        raw.concurrency,
        fmt_rate(raw.per_second),
        raw.latency.p50_ms,
        raw.latency.p99_ms
    ));
    let mut chorus_row = |label: String, result: &LoadResult, ratio: f64| {
        out.push_str(&format!(
            "| Chorus POST /api/v4/posts, {} clients, {label} | {} posts/s, p50 {:.2} ms, p90 {:.2} ms, \
             p99 {:.2} ms, max {:.2} ms, {} errors; **{:.0}% of raw INSERT** |\n",
            result.concurrency,
            fmt_rate(result.per_second),
            result.latency.p50_ms,
            result.latency.p90_ms,
            result.latency.p99_ms,
            result.latency.max_ms,
            result.errors,
            ratio * 100.0
        ));
    };
    chorus_row(
        "1 channel".to_owned(),
        &posts.chorus_one_channel,
        posts.ratio_one_channel,
    );
    if let (Some(many), Some(ratio)) = (&posts.chorus_many_channels, posts.ratio_many_channels) {
        chorus_row(format!("{} channels", posts.channels), many, ratio);
    }
    out.push_str(&format!(
        "| node memory per idle authenticated websocket, {} connections | {:.1} KiB RSS ({:.1} KiB anonymous); \
         {} opened in {:.1} s, {} failed |\n",
        fmt_thousands(ws.connections as u64),
        ws.per_connection_rss_kib,
        ws.per_connection_anonymous_kib,
        fmt_thousands(ws.opened as u64),
        ws.open_seconds,
        ws.failed
    ));
    out.push_str(&format!(
        "\nPostgreSQL {} with fsync={}, synchronous_commit={} for both post measurements.\n",
        posts.postgres.version, posts.postgres.fsync, posts.postgres.synchronous_commit
    ));
    out
}
