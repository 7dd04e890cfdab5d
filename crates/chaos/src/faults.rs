//! The faults and the schedule that injects them one after the other, each followed by a
//! settling pause, cycling through the list until the run's duration is used up.

use std::str::FromStr;
use std::time::Duration;

use anyhow::{bail, Result};
use chorus_testkit::client::Api;
use rand::rngs::StdRng;
use rand::Rng;
use reqwest::Method;

use crate::journal::{Clock, FaultRecord};
use crate::sandbox::Sandbox;
use crate::users::Placement;

/// How long a SIGKILLed node stays down before it is started again.
const KILLED_DOWNTIME: Duration = Duration::from_secs(3);
/// How long a node stays frozen (SIGSTOP) or cut off from its peers.
const HOLD: Duration = Duration::from_secs(10);
/// How long the cluster may take to be whole again after a node restarted.
const WHOLE_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// SIGKILL the node holding the most listeners, start it again after a few seconds.
    Kill,
    /// SIGSTOP a node for 10 s, then SIGCONT.
    Stop,
    /// Drop all traffic between a node and its peers for 10 s; NGINX and the database still
    /// reach it.
    Partition,
    /// SIGTERM a node (graceful drain), start it again once it has exited.
    Restart,
    /// Restart every node, one after the other.
    Rolling,
    /// SIGKILL the PostgreSQL primary and promote the replica.
    PgFailover,
}

pub const ALL_FAULTS: &str = "kill,stop,partition,restart,rolling,pg-failover";

impl Fault {
    pub fn name(self) -> &'static str {
        match self {
            Fault::Kill => "kill",
            Fault::Stop => "stop",
            Fault::Partition => "partition",
            Fault::Restart => "restart",
            Fault::Rolling => "rolling",
            Fault::PgFailover => "pg-failover",
        }
    }
}

impl FromStr for Fault {
    type Err = anyhow::Error;

    fn from_str(text: &str) -> Result<Fault> {
        Ok(match text.trim() {
            "kill" => Fault::Kill,
            "stop" => Fault::Stop,
            "partition" => Fault::Partition,
            "restart" => Fault::Restart,
            "rolling" => Fault::Rolling,
            "pg-failover" => Fault::PgFailover,
            other => bail!("unknown fault {other:?} (known: {ALL_FAULTS})"),
        })
    }
}

pub struct Schedule {
    pub faults: Vec<Fault>,
    /// Faults start while less than this has passed since the first one.
    pub duration: Duration,
    /// Quiet time after each fault is undone, before the next one.
    pub settle: Duration,
}

/// Injects the faults of `schedule` in order (all of them at least once, then again from the
/// start while time remains) and returns what was done when. `admin_token`: a system admin's,
/// to read each node's view of the cluster.
pub async fn inject(
    sandbox: &mut Sandbox,
    schedule: &Schedule,
    clock: &Clock,
    rng: &mut StdRng,
    placement: &Placement,
    admin_token: &str,
) -> Vec<FaultRecord> {
    let mut records = Vec::new();
    let started = clock.now();
    let mut database_failed_over = false;
    for round in 0.. {
        let mut injected_this_round = false;
        for fault in &schedule.faults {
            if round > 0 && clock.now() - started >= schedule.duration {
                return records;
            }
            if *fault == Fault::PgFailover && database_failed_over {
                continue; // one replica, so one failover per run
            }
            injected_this_round = true;
            let record = inject_one(sandbox, *fault, clock, rng, placement, admin_token).await;
            database_failed_over |= *fault == Fault::PgFailover;
            println!(
                "[{:>6.1}s] {} {}: undone after {:.1}s{}",
                record.injected_at.as_secs_f64(),
                record.name,
                record.target,
                (record.healed_at - record.injected_at).as_secs_f64(),
                if record.problems.is_empty() {
                    String::new()
                } else {
                    format!(" — problems: {}", record.problems.join("; "))
                }
            );
            records.push(record);
            tokio::time::sleep(schedule.settle).await;
            restart_crashed_nodes(sandbox, clock, &mut records).await;
        }
        if !injected_this_round {
            break;
        }
    }
    records
}

async fn inject_one(
    sandbox: &mut Sandbox,
    fault: Fault,
    clock: &Clock,
    rng: &mut StdRng,
    placement: &Placement,
    admin_token: &str,
) -> FaultRecord {
    let node_index = match fault {
        // The node with the most listeners, so that every kill is a failover trial.
        Fault::Kill => placement
            .busiest_node()
            .and_then(|hostname| {
                (0..sandbox.nodes().len()).position(|index| sandbox.hostname(index) == hostname)
            })
            .unwrap_or_else(|| rng.gen_range(0..sandbox.nodes().len())),
        _ => rng.gen_range(0..sandbox.nodes().len()),
    };
    let mut record = FaultRecord {
        name: fault.name().to_string(),
        target: format!("node {node_index}"),
        target_hostname: Some(sandbox.hostname(node_index).to_string()),
        injected_at: clock.now(),
        healed_at: clock.now(),
        problems: Vec::new(),
    };
    let outcome = match fault {
        Fault::Kill => {
            sandbox.nodes()[node_index].kill();
            tokio::time::sleep(KILLED_DOWNTIME).await;
            match sandbox.nodes()[node_index].restart().await {
                Ok(()) => wait_until_whole(sandbox, admin_token).await,
                Err(error) => Err(error),
            }
        }
        Fault::Stop => {
            let frozen = sandbox.nodes()[node_index].pause();
            tokio::time::sleep(HOLD).await;
            frozen.and_then(|()| sandbox.nodes()[node_index].resume())
        }
        Fault::Partition => {
            let cut = sandbox.network.cut(node_index);
            tokio::time::sleep(HOLD).await;
            cut.and_then(|()| sandbox.network.heal(node_index))
        }
        Fault::Restart => restart(sandbox, node_index, admin_token).await,
        Fault::Rolling => {
            record.target = "every node".to_string();
            record.target_hostname = None;
            let mut outcome = Ok(());
            for index in 0..sandbox.nodes().len() {
                outcome = outcome.and(restart(sandbox, index, admin_token).await);
            }
            outcome
        }
        Fault::PgFailover => {
            record.target = format!("primary :{}", sandbox.primary_port());
            record.target_hostname = None;
            tokio::task::block_in_place(|| sandbox.fail_over())
        }
    };
    if let Err(error) = outcome {
        record.problems.push(format!("{error:#}"));
    }
    record.healed_at = clock.now();
    record
}

/// A graceful restart, done as the seeds tell an operator: the next step waits until the
/// System Console shows every server green again.
async fn restart(sandbox: &mut Sandbox, index: usize, admin_token: &str) -> Result<()> {
    let node = &sandbox.nodes()[index];
    let drained = node.stop().await;
    let started = node.restart().await;
    drained.and(started)?;
    wait_until_whole(sandbox, admin_token).await
}

/// Waits until every node sees every node alive (`GET /api/v4/cluster/status` on each, what
/// the System Console's High Availability page shows). A node serves as soon as it starts,
/// but hands a joining node its websockets' records only once it has seen it join: draining
/// the next node before then would make clients resync that could have resumed.
async fn wait_until_whole(sandbox: &Sandbox, admin_token: &str) -> Result<()> {
    let count = sandbox.nodes().len();
    let deadline = tokio::time::Instant::now() + WHOLE_TIMEOUT;
    for node in sandbox.nodes() {
        let api = Api::with_http(sandbox.http.clone(), &format!("http://{}", node.address()))
            .with_token(admin_token);
        loop {
            let status = api
                .try_send(api.request(Method::GET, "/cluster/status"))
                .await
                .and_then(|reply| reply.success());
            let alive = match status {
                Ok(serde_json::Value::Array(nodes)) => nodes
                    .iter()
                    .filter(|status| status["alive"] == true)
                    .count(),
                _ => 0,
            };
            if alive == count {
                break;
            }
            if tokio::time::Instant::now() >= deadline {
                bail!(
                    "node {} saw {alive} of {count} nodes alive {WHOLE_TIMEOUT:?} after the fault",
                    node.index
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    Ok(())
}

/// A node that exited without being told to is a finding; start it again so the run goes on.
async fn restart_crashed_nodes(
    sandbox: &mut Sandbox,
    clock: &Clock,
    records: &mut Vec<FaultRecord>,
) {
    for node in sandbox.nodes() {
        if let Err(crash) = node.check_alive() {
            let at = clock.now();
            let mut problems = vec![format!("{crash:#}")];
            node.kill();
            if let Err(error) = node.restart().await {
                problems.push(format!("restarting it: {error:#}"));
            }
            records.push(FaultRecord {
                name: "crash".to_string(),
                target: format!("node {}", node.index),
                target_hostname: Some(sandbox.hostname(node.index).to_string()),
                injected_at: at,
                healed_at: clock.now(),
                problems,
            });
        }
    }
}
