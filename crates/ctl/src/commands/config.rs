//! `config`: the server configuration through GET/PUT /config, PUT /config/patch and
//! POST /config/reload. A change is followed until every live node shows one config hash in
//! GET /cluster/status, so the operator knows it has reached the whole cluster.

use super::{Context, Outcome};
use crate::cli::{ConfigCommand, WaitArgs};
use crate::client::Client;
use crate::output::{print_json, text};
use anyhow::{bail, Context as _, Result};
use serde_json::{json, Map, Value};
use std::time::{Duration, Instant};

pub async fn run(context: &Context, command: ConfigCommand) -> Result<Outcome> {
    let client = context.client()?;
    match command {
        ConfigCommand::Get { key } => {
            let config = client.get("/config").await?;
            let value = lookup(&config, &key)?;
            match value {
                Value::String(text) if !context.json => println!("{text}"),
                other => print_json(other),
            }
            Ok(Outcome::Success)
        }
        ConfigCommand::Show => {
            print_json(&client.get("/config").await?);
            Ok(Outcome::Success)
        }
        ConfigCommand::Set { key, values, wait } => {
            let config = client.get("/config").await?;
            let current = lookup(&config, &key)?;
            let new_value = typed_value(&key, current, &values)?;
            let patch = nested_patch(&key, new_value.clone())?;
            let before = own_config_hash(&client).await?;
            let saved = client.put("/config/patch", &patch).await?;
            let saved_value = lookup(&saved, &key).ok();
            if let Some(kept) = saved_value.filter(|kept| **kept != new_value && !is_masked(kept)) {
                // Typically an MM_<SECTION>_<KEY> environment variable on the node, which wins
                // over the saved file.
                eprintln!(
                    "Error: the server kept {key} = {kept} (an MM_* environment variable on the node overrides it?)"
                );
                return Ok(Outcome::Failure);
            }
            if context.json {
                print_json(&saved);
            } else {
                println!("{key} set");
            }
            let changed = saved_value != Some(current);
            wait_for_one_hash(&client, wait, before.filter(|_| changed)).await
        }
        ConfigCommand::Patch { file, wait } => {
            let text = super::read_file(&file)?;
            let patch: Value = serde_json::from_str(&text)
                .with_context(|| format!("{} is not JSON", file.display()))?;
            if !patch.is_object() {
                bail!("{} must hold a JSON object of settings", file.display());
            }
            let before_config = client.get("/config").await?;
            let before = own_config_hash(&client).await?;
            let saved = client.put("/config/patch", &patch).await?;
            if context.json {
                print_json(&saved);
            } else {
                println!("configuration patched from {}", file.display());
            }
            wait_for_one_hash(&client, wait, before.filter(|_| saved != before_config)).await
        }
        ConfigCommand::Reload { wait } => {
            let answer = client.post("/config/reload", &json!({})).await?;
            if context.json {
                print_json(&answer);
            } else {
                println!("configuration reloaded");
            }
            wait_for_one_hash(&client, wait, None).await
        }
        ConfigCommand::Edit { wait } => edit(context, &client, wait).await,
    }
}

/// `Section.Key` (any depth) in a config JSON.
pub fn lookup<'a>(config: &'a Value, key: &str) -> Result<&'a Value> {
    let mut value = config;
    for part in key.split('.') {
        match value.get(part) {
            Some(inner) => value = inner,
            None => bail!("config key {key:?} not found (see `chorusctl config show`)"),
        }
    }
    Ok(value)
}

/// The values given on the command line, typed as the setting's current value is: mmctl's
/// `config set` rule (a list setting takes every value, a scalar exactly one).
pub fn typed_value(key: &str, current: &Value, values: &[String]) -> Result<Value> {
    if let Value::Array(_) = current {
        return Ok(Value::Array(
            values.iter().cloned().map(Value::String).collect(),
        ));
    }
    if values.len() != 1 {
        bail!("{key} takes one value, not {}", values.len());
    }
    let raw = &values[0];
    Ok(match current {
        Value::Bool(_) => match raw.as_str() {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            _ => bail!("{key} is true or false, not {raw:?}"),
        },
        Value::Number(_) => {
            if let Ok(integer) = raw.parse::<i64>() {
                Value::from(integer)
            } else if let Ok(float) = raw.parse::<f64>() {
                Value::from(float)
            } else {
                bail!("{key} is a number, not {raw:?}")
            }
        }
        Value::Object(_) => bail!("{key} is a section: set one of its keys"),
        Value::String(_) | Value::Null | Value::Array(_) => Value::String(raw.clone()),
    })
}

/// A secret GET /config shows as asterisks: it cannot be compared with what was set.
fn is_masked(value: &Value) -> bool {
    value
        .as_str()
        .is_some_and(|text| !text.is_empty() && text.chars().all(|character| character == '*'))
}

/// `{"A": {"B": value}}` for `A.B`.
pub fn nested_patch(key: &str, value: Value) -> Result<Value> {
    let parts: Vec<&str> = key.split('.').collect();
    if parts.iter().any(|part| part.is_empty()) {
        bail!("{key:?} is not a config key like ServiceSettings.SiteURL");
    }
    let mut patch = value;
    for part in parts.iter().rev() {
        let mut object = Map::new();
        object.insert(part.to_string(), patch);
        patch = Value::Object(object);
    }
    Ok(patch)
}

/// The config hash of the node that answers, None outside a cluster.
async fn own_config_hash(client: &Client) -> Result<Option<String>> {
    let status = client.get("/cluster/status").await?;
    Ok(status.as_array().and_then(|nodes| {
        nodes
            .iter()
            .find(|node| node.get("is_self") == Some(&Value::Bool(true)))
            .map(|node| text(node, "config_hash"))
    }))
}

/// Polls GET /cluster/status until every live node shows one config hash (and, after a
/// change, not `old_hash` any more). Exit code 1 when the cluster has not agreed in time.
async fn wait_for_one_hash(
    client: &Client,
    wait: WaitArgs,
    old_hash: Option<String>,
) -> Result<Outcome> {
    if wait.wait == 0 {
        return Ok(Outcome::Success);
    }
    let started = Instant::now();
    let deadline = started + Duration::from_secs(wait.wait);
    let bar = crate::progress::bar(0, "nodes with the new configuration");
    loop {
        let status = client.get("/cluster/status").await?;
        let nodes: Vec<Value> = status
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .filter(|node| node.get("alive") == Some(&Value::Bool(true)))
            .collect();
        if nodes.is_empty() {
            bar.finish_and_clear();
            return Ok(Outcome::Success);
        }
        let newest = nodes
            .iter()
            .find(|node| node.get("is_self") == Some(&Value::Bool(true)))
            .map(|node| text(node, "config_hash"))
            .unwrap_or_else(|| text(&nodes[0], "config_hash"));
        let agreeing = nodes
            .iter()
            .filter(|node| text(node, "config_hash") == newest)
            .count();
        bar.set_length(nodes.len() as u64);
        bar.set_position(agreeing as u64);
        let moved_on = old_hash.as_deref() != Some(newest.as_str());
        if agreeing == nodes.len() && moved_on {
            bar.finish_and_clear();
            eprintln!(
                "configuration on all {} nodes after {} ms",
                nodes.len(),
                started.elapsed().as_millis()
            );
            return Ok(Outcome::Success);
        }
        if Instant::now() >= deadline {
            bar.finish_and_clear();
            let behind: Vec<String> = nodes
                .iter()
                .filter(|node| text(node, "config_hash") != newest)
                .map(|node| text(node, "api_address"))
                .collect();
            if moved_on {
                eprintln!(
                    "Error: after {} s, {} of {} nodes still show another config hash: {} (see `chorusctl cluster status`)",
                    wait.wait,
                    behind.len(),
                    nodes.len(),
                    behind.join(", ")
                );
            } else {
                eprintln!(
                    "Error: after {} s, no node shows the new config hash yet (see `chorusctl cluster status`)",
                    wait.wait
                );
            }
            return Ok(Outcome::Failure);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn edit(context: &Context, client: &Client, wait: WaitArgs) -> Result<Outcome> {
    let config = client.get("/config").await?;
    let mut file = tempfile::Builder::new()
        .prefix("chorusctl-config-")
        .suffix(".json")
        .tempfile()?;
    {
        use std::io::Write;
        file.write_all(serde_json::to_string_pretty(&config)?.as_bytes())?;
        file.flush()?;
    }
    let editor = std::env::var("VISUAL")
        .or_else(|_| std::env::var("EDITOR"))
        .unwrap_or_else(|_| "vi".to_string());
    // $EDITOR may carry arguments ("code --wait"): let the shell split it.
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("{editor} \"$1\""))
        .arg("sh")
        .arg(file.path())
        .status()
        .with_context(|| format!("cannot run the editor {editor:?}"))?;
    if !status.success() {
        bail!("the editor {editor:?} failed ({status}): configuration left unchanged");
    }
    let edited_text = super::read_file(file.path())?;
    let edited: Value = serde_json::from_str(&edited_text)
        .context("the edited configuration is not JSON: left unchanged")?;
    if edited == config {
        println!("no change");
        return Ok(Outcome::Success);
    }
    let before = own_config_hash(client).await?;
    let saved = client.put("/config", &edited).await?;
    if context.json {
        print_json(&saved);
    } else {
        println!("configuration saved");
    }
    wait_for_one_hash(client, wait, before).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(values: &[&str]) -> Vec<String> {
        values.iter().map(|value| value.to_string()).collect()
    }

    #[test]
    fn keys_are_dotted_paths() {
        let config = json!({"ServiceSettings": {"SiteURL": "http://x", "Nested": {"Deep": 1}}});
        assert_eq!(
            lookup(&config, "ServiceSettings.SiteURL").unwrap(),
            "http://x"
        );
        assert_eq!(lookup(&config, "ServiceSettings.Nested.Deep").unwrap(), 1);
        assert!(lookup(&config, "ServiceSettings.Nope").is_err());
    }

    #[test]
    fn values_take_the_type_of_the_setting() {
        assert_eq!(
            typed_value("k", &json!(true), &strings(&["false"])).unwrap(),
            json!(false)
        );
        assert!(typed_value("k", &json!(true), &strings(&["yes"])).is_err());
        assert_eq!(
            typed_value("k", &json!(50), &strings(&["77"])).unwrap(),
            json!(77)
        );
        assert_eq!(
            typed_value("k", &json!(0.5), &strings(&["1.5"])).unwrap(),
            json!(1.5)
        );
        assert_eq!(
            typed_value("k", &json!("a"), &strings(&["77"])).unwrap(),
            json!("77")
        );
        assert_eq!(
            typed_value("k", &json!([]), &strings(&["a", "b"])).unwrap(),
            json!(["a", "b"])
        );
        assert!(typed_value("k", &json!("a"), &strings(&["a", "b"])).is_err());
        assert!(typed_value("k", &json!({}), &strings(&["a"])).is_err());
    }

    #[test]
    fn a_key_becomes_a_nested_patch() {
        assert_eq!(
            nested_patch("TeamSettings.SiteName", json!("Ops")).unwrap(),
            json!({"TeamSettings": {"SiteName": "Ops"}})
        );
        assert!(nested_patch("TeamSettings..SiteName", json!(1)).is_err());
    }
}
