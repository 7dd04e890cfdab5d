//! Load and its figures, for a warm-up and then a measured window; latencies go into an HDR
//! histogram (microsecond resolution, 3 significant digits).
//!
//! - Closed loop ([`closed_loop`]): N workers each send one operation, wait for the answer, send
//!   the next. An operation counts when it both started and finished inside the measured window.
//!   Gives the most a system does with N clients.
//! - Open loop ([`open_loop`]): operations start on a fixed schedule whatever the answers, and
//!   latency runs from the scheduled start, so a stall shows as latency of everything queued
//!   behind it (no coordinated omission). An operation counts when it was scheduled inside the
//!   measured window. Gives latency at a given rate.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Result;
use hdrhistogram::Histogram;
use serde::Serialize;

use crate::sys::{CpuSnapshot, CpuUsage, Parties};

/// Highest latency the histogram tracks exactly; longer ones are clamped (and are errors anyway:
/// see [`OP_TIMEOUT`]).
const MAX_TRACKED_MICROS: u64 = 120_000_000;
/// An operation that takes longer than this counts as an error, so a stuck server cannot stall
/// the benchmark.
pub const OP_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Clone, Copy, Debug)]
pub struct Window {
    pub warmup: Duration,
    pub measure: Duration,
}

/// Latency percentiles in milliseconds.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Latency {
    pub mean_ms: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
}

impl Latency {
    pub fn of(histogram: &Histogram<u64>) -> Latency {
        if histogram.is_empty() {
            return Latency::default();
        }
        let ms = |micros: u64| micros as f64 / 1000.0;
        Latency {
            mean_ms: histogram.mean() / 1000.0,
            p50_ms: ms(histogram.value_at_quantile(0.50)),
            p90_ms: ms(histogram.value_at_quantile(0.90)),
            p99_ms: ms(histogram.value_at_quantile(0.99)),
            p999_ms: ms(histogram.value_at_quantile(0.999)),
            max_ms: ms(histogram.max()),
        }
    }
}

/// What one load phase achieved.
#[derive(Clone, Debug, Serialize)]
pub struct LoadResult {
    /// Closed loop: the workers; open loop: the most operations allowed in flight.
    pub concurrency: usize,
    /// Open loop: the rate operations were started at (per second).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offered_per_second: Option<f64>,
    pub measured_seconds: f64,
    /// Successful operations inside the measured window.
    pub ok: u64,
    /// Failed or timed-out operations inside the measured window.
    pub errors: u64,
    /// Successful operations in the whole run, warm-up and the tail after the window included:
    /// what a durability check compares with the rows stored.
    pub ok_total: u64,
    /// `ok / measured_seconds`.
    pub per_second: f64,
    pub latency: Latency,
    /// Who used the CPU during the measured window, when the scenario measured it
    /// ([`cpu_during`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu: Option<CpuUsage>,
    /// The first error seen (warm-up included), to tell what went wrong.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_error: Option<String>,
}

/// One worker's tally, merged into a [`LoadResult`] at the end.
struct Tally {
    histogram: Histogram<u64>,
    ok: u64,
    ok_total: u64,
    errors: u64,
    first_error: Option<String>,
}

impl Tally {
    fn new() -> Tally {
        Tally {
            histogram: Histogram::new_with_bounds(1, MAX_TRACKED_MICROS, 3)
                .expect("valid histogram bounds"),
            ok: 0,
            ok_total: 0,
            errors: 0,
            first_error: None,
        }
    }

    fn into_result(
        self,
        concurrency: usize,
        offered_per_second: Option<f64>,
        window: Window,
    ) -> LoadResult {
        let measured_seconds = window.measure.as_secs_f64();
        LoadResult {
            concurrency,
            offered_per_second,
            measured_seconds,
            ok: self.ok,
            ok_total: self.ok_total,
            errors: self.errors,
            per_second: self.ok as f64 / measured_seconds,
            latency: Latency::of(&self.histogram),
            cpu: None,
            first_error: self.first_error,
        }
    }

    fn merge(&mut self, other: Tally) {
        self.histogram
            .add(&other.histogram)
            .expect("histograms with the same bounds");
        self.ok += other.ok;
        self.ok_total += other.ok_total;
        self.errors += other.errors;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }
}

/// Runs every worker in its own task, closed loop, for `window`. A worker is a closure that
/// returns the future of one operation; it owns its connection (a keep-alive HTTP client, a
/// PostgreSQL connection), so the workers share nothing but the clock.
pub async fn closed_loop<F, Fut>(workers: Vec<F>, window: Window) -> Result<LoadResult>
where
    F: FnMut() -> Fut + Send + 'static,
    Fut: Future<Output = Result<()>> + Send,
{
    let concurrency = workers.len();
    let start = Instant::now();
    let measure_from = start + window.warmup;
    let until = measure_from + window.measure;
    let tasks: Vec<_> = workers
        .into_iter()
        .map(|mut operation| {
            tokio::spawn(async move {
                let mut tally = Tally::new();
                loop {
                    let began = Instant::now();
                    if began >= until {
                        break;
                    }
                    let outcome = match tokio::time::timeout(OP_TIMEOUT, operation()).await {
                        Ok(outcome) => outcome,
                        Err(_) => Err(anyhow::anyhow!("no answer within {OP_TIMEOUT:?}")),
                    };
                    let ended = Instant::now();
                    match &outcome {
                        Ok(()) => tally.ok_total += 1,
                        Err(error) if tally.first_error.is_none() => {
                            tally.first_error = Some(format!("{error:#}"));
                        }
                        Err(_) => {}
                    }
                    if began < measure_from || ended > until {
                        continue;
                    }
                    match outcome {
                        Ok(()) => {
                            tally.ok += 1;
                            let micros = (ended - began).as_micros() as u64;
                            tally.histogram.saturating_record(micros.max(1));
                        }
                        Err(_) => tally.errors += 1,
                    }
                }
                tally
            })
        })
        .collect();
    let mut total = Tally::new();
    for task in tasks {
        total.merge(task.await?);
    }
    Ok(total.into_result(concurrency, None, window))
}

/// Starts `operation(index, measured)` `rate` times a second for `window` (index counts from 0;
/// `measured` says whether it was scheduled inside the measured window). At most
/// `max_in_flight` run at once: a start that finds them all busy is an error ("overloaded"),
/// so an overloaded system shows as errors and latency rather than a slower schedule.
pub async fn open_loop<F, Fut>(
    rate: f64,
    window: Window,
    max_in_flight: usize,
    mut operation: F,
) -> Result<LoadResult>
where
    F: FnMut(u64, bool) -> Fut,
    Fut: Future<Output = Result<()>> + Send + 'static,
{
    anyhow::ensure!(rate > 0.0, "the rate must be positive");
    let start = Instant::now();
    let measure_from = start + window.warmup;
    let until = measure_from + window.measure;
    let permits = Arc::new(tokio::sync::Semaphore::new(max_in_flight));
    let tally = Arc::new(Mutex::new(Tally::new()));
    let mut running = tokio::task::JoinSet::new();
    for index in 0u64.. {
        let scheduled = start + Duration::from_secs_f64(index as f64 / rate);
        if scheduled >= until {
            break;
        }
        tokio::time::sleep_until(scheduled.into()).await;
        while running.try_join_next().is_some() {}
        let measured = scheduled >= measure_from;
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            let mut tally = tally.lock().expect("tally lock");
            if measured {
                tally.errors += 1;
            }
            tally
                .first_error
                .get_or_insert_with(|| format!("overloaded: {max_in_flight} operations in flight"));
            continue;
        };
        let attempt = operation(index, measured);
        let tally = tally.clone();
        running.spawn(async move {
            let outcome = match tokio::time::timeout(OP_TIMEOUT, attempt).await {
                Ok(outcome) => outcome,
                Err(_) => Err(anyhow::anyhow!("no answer within {OP_TIMEOUT:?}")),
            };
            let micros = scheduled.elapsed().as_micros() as u64;
            drop(permit);
            let mut tally = tally.lock().expect("tally lock");
            match outcome {
                Ok(()) => {
                    tally.ok_total += 1;
                    if measured {
                        tally.ok += 1;
                        tally.histogram.saturating_record(micros.max(1));
                    }
                }
                Err(error) => {
                    if measured {
                        tally.errors += 1;
                    }
                    tally
                        .first_error
                        .get_or_insert_with(|| format!("{error:#}"));
                }
            }
        });
    }
    while running.join_next().await.is_some() {}
    let total = std::mem::replace(&mut *tally.lock().expect("tally lock"), Tally::new());
    Ok(total.into_result(max_in_flight, Some(rate), window))
}

/// CPU use (machine, nodes, NGINX, PostgreSQL, this process, others) during the measured part
/// of `window`; start it together with the load on the same window.
pub async fn cpu_during(parties: &Parties, window: Window) -> CpuUsage {
    tokio::time::sleep(window.warmup).await;
    let before = CpuSnapshot::take(parties);
    tokio::time::sleep(window.measure).await;
    CpuSnapshot::take(parties).usage_since(&before)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;

    #[tokio::test]
    async fn open_loop_keeps_its_schedule_and_counts_overload() {
        let window = Window {
            warmup: Duration::from_millis(100),
            measure: Duration::from_millis(400),
        };
        // 200/s of 5 ms operations: about 1 in flight; room for 64 absorbs a stalled scheduler
        // on a busy machine (the late starts then run back to back).
        let steady = open_loop(200.0, window, 64, |_, _| async {
            tokio::time::sleep(Duration::from_millis(5)).await;
            Ok(())
        })
        .await
        .unwrap();
        assert_eq!(steady.errors, 0, "{steady:?}");
        assert!((70..=82).contains(&steady.ok), "{steady:?}");
        assert!(steady.latency.p50_ms >= 5.0, "{steady:?}");
        // 200/s of 100 ms operations with room for 4: most starts find no room.
        let overloaded = open_loop(200.0, window, 4, |_, _| async {
            tokio::time::sleep(Duration::from_millis(100)).await;
            Ok(())
        })
        .await
        .unwrap();
        assert!(overloaded.errors > overloaded.ok, "{overloaded:?}");
        assert!(overloaded.first_error.unwrap().starts_with("overloaded"));
    }

    #[tokio::test]
    async fn counts_only_the_measured_window() {
        let calls = Arc::new(AtomicU64::new(0));
        let workers: Vec<_> = (0..2)
            .map(|_| {
                let calls = calls.clone();
                move || {
                    let calls = calls.clone();
                    async move {
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        // Every third call fails.
                        if calls.fetch_add(1, Ordering::Relaxed) % 3 == 2 {
                            anyhow::bail!("planned failure");
                        }
                        Ok(())
                    }
                }
            })
            .collect();
        let window = Window {
            warmup: Duration::from_millis(100),
            measure: Duration::from_millis(300),
        };
        let result = closed_loop(workers, window).await.unwrap();
        let all_calls = calls.load(Ordering::Relaxed);
        assert!(result.ok + result.errors < all_calls, "warm-up excluded");
        // Two workers, ~10 ms each, 300 ms: about 60 operations, a third of them failing.
        assert!(
            (10..=62).contains(&(result.ok + result.errors)),
            "{result:?}"
        );
        assert!(result.errors > 0 && result.ok > result.errors, "{result:?}");
        assert_eq!(result.first_error.as_deref(), Some("planned failure"));
        assert!(result.latency.p50_ms >= 10.0, "{result:?}");
        assert!((result.per_second - result.ok as f64 / 0.3).abs() < 1e-6);
    }
}
