//! What metrics cost: the CPU the hot path spends per post on counting (what POST /posts does
//! to the registry: the request counted and timed by route, the post and its broadcast
//! counted), and the time and size of encoding a registry with a node's series.
//!
//! `cargo run --release -p chorus-app --example metrics_cost` (docs/benchmarks.md).

use std::time::{Duration, Instant};

use chorus_app::metrics::Metrics;

/// CPU time (user + system) of this process.
fn cpu_time() -> Duration {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage writes into the struct we pass.
    let usage = unsafe {
        libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr());
        usage.assume_init()
    };
    let micros = |time: libc::timeval| time.tv_sec as u64 * 1_000_000 + time.tv_usec as u64;
    Duration::from_micros(micros(usage.ru_utime) + micros(usage.ru_stime))
}

fn one_post(metrics: &Metrics, route: &str, elapsed: Duration) {
    // What common_headers does: the matched route is copied out of the request first.
    let handler = route.to_string();
    metrics.observe_request(&handler, "POST", 201, elapsed);
    metrics.post_created();
    metrics.broadcast("posted");
}

fn main() {
    let posts = 2_000_000u32;
    let metrics = Metrics::new();
    // A registry as a node has it after some traffic: ~40 routes × a few status codes.
    for route in 0..40 {
        for status in [200u16, 201, 400, 403, 404] {
            metrics.observe_request(
                &format!("/api/v4/route{route}"),
                "GET",
                status,
                Duration::from_millis(3),
            );
        }
    }
    let route = "/api/v4/posts";
    let elapsed = Duration::from_micros(1800);
    for _ in 0..10_000 {
        one_post(&metrics, route, elapsed);
    }
    let mut best = f64::MAX;
    for _ in 0..5 {
        let cpu_before = cpu_time();
        let wall_before = Instant::now();
        for _ in 0..posts {
            one_post(&metrics, route, elapsed);
        }
        let cpu = cpu_time() - cpu_before;
        let per_post = cpu.as_secs_f64() * 1e6 / f64::from(posts);
        best = best.min(per_post);
        println!(
            "metrics per post: {per_post:.3} µs CPU ({:.3} µs wall)",
            wall_before.elapsed().as_secs_f64() * 1e6 / f64::from(posts)
        );
    }
    println!("best: {best:.3} µs CPU per post");

    let mut sizes = 0;
    let encodes = 200u32;
    let cpu_before = cpu_time();
    for _ in 0..encodes {
        sizes = metrics.encode().len();
    }
    let cpu = cpu_time() - cpu_before;
    println!(
        "encoding {} series-lines: {sizes} bytes, {:.0} µs CPU per scrape",
        metrics.encode().lines().count(),
        cpu.as_secs_f64() * 1e6 / f64::from(encodes)
    );
}
