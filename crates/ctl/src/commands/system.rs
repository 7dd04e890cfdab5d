//! `system`, `cluster` and `database`: the health of the nodes and of their databases.

use super::{Context, Outcome};
use crate::cli::{ClusterCommand, DatabaseCommand, SystemCommand};
use crate::client::ServerError;
use crate::output::{done, health, plain, print_json, text, yes_no, Table};
use anyhow::Result;
use reqwest::Method;
use serde_json::{json, Value};

pub async fn system(context: &Context, command: SystemCommand) -> Result<Outcome> {
    let client = context.client()?;
    match command {
        SystemCommand::Status => {
            // A node that cannot serve answers 503 with the same report: show it, exit 1.
            let (report, healthy) = match client
                .send(Method::GET, "/system/ping?get_server_status=true", None)
                .await
            {
                Ok(response) => (response.body, true),
                Err(error) => match error.downcast::<ServerError>() {
                    Ok(server_error) if server_error.status_code == 503 => {
                        let report = client
                            .send(
                                Method::GET,
                                "/system/ping?get_server_status=true&use_rest_semantics=true",
                                None,
                            )
                            .await?
                            .body;
                        (report, false)
                    }
                    Ok(server_error) => return Err(server_error.into()),
                    Err(error) => return Err(error),
                },
            };
            if context.json {
                print_json(&report);
            } else {
                for (label, key) in [
                    ("Server status", "status"),
                    ("Database status", "database_status"),
                    ("Filestore status", "filestore_status"),
                    ("Android latest version", "AndroidLatestVersion"),
                    ("Android minimum version", "AndroidMinVersion"),
                    ("iOS latest version", "IosLatestVersion"),
                    ("iOS minimum version", "IosMinVersion"),
                ] {
                    if !text(&report, key).is_empty() {
                        println!("{label}: {}", text(&report, key));
                    }
                }
            }
            let healthy = healthy && text(&report, "status") == "OK";
            return Ok(if healthy {
                Outcome::Success
            } else {
                Outcome::Failure
            });
        }
        SystemCommand::Version => {
            let response = client.send(Method::GET, "/system/ping", None).await?;
            // X-Version-Id is "<version>.<build>.<hash>.<licensed>": the first three parts are
            // the server version mmctl prints.
            let version_id = response
                .headers
                .get("x-version-id")
                .and_then(|value| value.to_str().ok())
                .unwrap_or_default()
                .to_string();
            let version = version_id.split('.').take(3).collect::<Vec<_>>().join(".");
            if context.json {
                print_json(&json!({"version": version, "version_id": version_id}));
            } else {
                println!("Server version {version}");
            }
        }
        SystemCommand::Setbusy { seconds } => {
            let answer = client
                .post(&format!("/server_busy?seconds={seconds}"), &json!({}))
                .await?;
            done(
                context.json,
                &answer,
                format!("busy state set for {seconds} seconds"),
            );
        }
        SystemCommand::Getbusy => {
            let state = client.get("/server_busy").await?;
            if context.json {
                print_json(&state);
            } else if state.get("busy") == Some(&Value::Bool(true)) {
                println!("server is busy until {}", text(&state, "expires_ts"));
            } else {
                println!("server is not busy");
            }
        }
        SystemCommand::Clearbusy => {
            let answer = client.delete("/server_busy").await?;
            done(context.json, &answer, "busy state cleared");
        }
    }
    Ok(Outcome::Success)
}

/// GET /logs: the answering node's recent lines (through NGINX, whichever node that is). The
/// server pages from the oldest line it keeps, so read every page and print the last `number`.
pub async fn logs(context: &Context, number: u32) -> Result<Outcome> {
    let client = context.client()?;
    let mut lines: Vec<Value> = Vec::new();
    // The node keeps a few thousand lines: a bounded number of pages.
    for page in 0..100 {
        let batch = client
            .get(&format!("/logs?page={page}&logs_per_page=1000"))
            .await?;
        let batch = batch.as_array().cloned().unwrap_or_default();
        if batch.is_empty() {
            break;
        }
        lines.extend(batch);
    }
    let skip = lines.len().saturating_sub(number as usize);
    let last: Vec<Value> = lines.into_iter().skip(skip).collect();
    if context.json {
        print_json(&Value::Array(last));
    } else {
        for line in &last {
            println!("{}", plain(line).trim_end());
        }
    }
    Ok(Outcome::Success)
}

/// Why a node of GET /cluster/status is red; empty when it is green.
pub fn red_reasons(node: &Value) -> Vec<&'static str> {
    let flag = |key: &str| node.get(key).and_then(Value::as_bool);
    let mut reasons = Vec::new();
    if flag("alive") != Some(true) {
        reasons.push("not alive");
    }
    if flag("ready") != Some(true) {
        reasons.push("not ready");
    }
    if flag("config_mismatch") == Some(true) {
        reasons.push("config mismatch");
    }
    if flag("version_mismatch") == Some(true) {
        reasons.push("version mismatch");
    }
    reasons
}

pub fn cluster_table(nodes: &[Value]) -> Table {
    let mut table = Table::new(&[
        "NODE", "ADDRESS", "HOSTNAME", "VERSION", "LEADER", "ALIVE", "READY", "HEALTH", "REASON",
    ]);
    for node in nodes {
        let reasons = red_reasons(node);
        let flag = |key: &str| node.get(key).and_then(Value::as_bool).unwrap_or(false);
        table.row(vec![
            text(node, "id"),
            text(node, "api_address"),
            text(node, "hostname"),
            text(node, "version"),
            if flag("is_leader") { "*" } else { "" }.to_string(),
            yes_no(flag("alive")),
            yes_no(flag("ready")),
            health(reasons.is_empty()),
            reasons.join(", "),
        ]);
    }
    table
}

pub async fn cluster(context: &Context, command: ClusterCommand) -> Result<Outcome> {
    let client = context.client()?;
    match command {
        ClusterCommand::Status => {
            let status = client.get("/cluster/status").await?;
            let mut nodes = status.as_array().cloned().unwrap_or_default();
            nodes.sort_by_key(|node| text(node, "api_address"));
            let red = nodes
                .iter()
                .filter(|node| !red_reasons(node).is_empty())
                .count();
            if context.json {
                print_json(&Value::Array(nodes));
            } else if nodes.is_empty() {
                println!("this server is not part of a cluster (ClusterSettings.Enable is off)");
            } else {
                print!("{}", cluster_table(&nodes).render());
                if red > 0 {
                    eprintln!("{red} of {} nodes red", nodes.len());
                }
            }
            Ok(if red == 0 {
                Outcome::Success
            } else {
                Outcome::Failure
            })
        }
    }
}

pub async fn database(context: &Context, command: DatabaseCommand) -> Result<Outcome> {
    let client = context.client()?;
    match command {
        DatabaseCommand::Status => {
            let status = client.get("/database/status").await?;
            if context.json {
                print_json(&status);
                return Ok(Outcome::Success);
            }
            let mut table = Table::new(&[
                "ROLE",
                "SOURCE",
                "REACHABLE",
                "IN ROTATION",
                "LAG",
                "POOL",
                "LAST ERROR",
            ]);
            let master = status.get("master").cloned().unwrap_or(Value::Null);
            let replicas = status
                .get("replicas")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            for source in std::iter::once(&master).chain(replicas.iter()) {
                let flag = |key: &str| source.get(key).and_then(Value::as_bool).unwrap_or(false);
                let lag = match (source.get("lag_bytes"), source.get("lag_seconds")) {
                    (Some(bytes), Some(seconds)) => {
                        format!("{} B, {} s", plain(bytes), plain(seconds))
                    }
                    (Some(bytes), None) => format!("{} B", plain(bytes)),
                    _ => "-".to_string(),
                };
                table.row(vec![
                    text(source, "role"),
                    text(source, "source"),
                    yes_no(flag("reachable")),
                    yes_no(flag("in_rotation")),
                    lag,
                    format!(
                        "{} open, {} idle, {} max",
                        text(source, "pool_open"),
                        text(source, "pool_idle"),
                        text(source, "pool_max")
                    ),
                    text(source, "last_error"),
                ]);
            }
            print!("{}", table.render());
            println!(
                "read-your-writes keys: {}",
                text(&status, "read_your_writes_keys")
            );
        }
        DatabaseCommand::Recycle => {
            let answer = client.post("/database/recycle", &json!({})).await?;
            if context.json {
                print_json(&answer);
            } else {
                println!("database connections recycled on every node");
            }
        }
    }
    Ok(Outcome::Success)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(alive: bool, ready: bool, config_mismatch: bool) -> Value {
        json!({
            "id": "edrnyoht6yhyppg8q155kfronh", "api_address": "127.0.0.1:8066",
            "hostname": "host", "version": "10.5.0", "is_leader": true,
            "alive": alive, "ready": ready,
            "config_mismatch": config_mismatch, "version_mismatch": false,
        })
    }

    #[test]
    fn a_node_is_red_for_each_reason_it_has() {
        assert!(red_reasons(&node(true, true, false)).is_empty());
        assert_eq!(red_reasons(&node(true, true, true)), ["config mismatch"]);
        assert_eq!(
            red_reasons(&node(false, false, false)),
            ["not alive", "not ready"]
        );
        // A node entry missing its flags is not taken for healthy.
        assert_eq!(red_reasons(&json!({})), ["not alive", "not ready"]);
    }

    #[test]
    fn the_cluster_table_shows_health_and_reasons() {
        let rendered = cluster_table(&[node(true, true, false), node(true, true, true)]).render();
        let lines: Vec<&str> = rendered.lines().collect();
        assert!(lines[0].starts_with("NODE"), "{rendered}");
        assert!(lines[1].contains("green"), "{rendered}");
        assert!(
            lines[2].contains("red") && lines[2].ends_with("config mismatch"),
            "{rendered}"
        );
        assert!(lines[1].contains("127.0.0.1:8066"));
    }
}
