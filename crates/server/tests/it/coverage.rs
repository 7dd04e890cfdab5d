//! How much of `@mattermost/client` Chorus serves, measured by the client itself:
//! tests/compat/js/endpoints.mjs lists every endpoint a `Client4` method can call and probes a
//! fresh node for each (see that file for the rule). The table lives in docs/api-coverage.md;
//! `scripts/api-coverage.sh` rewrites it.

use std::path::PathBuf;

use serde_json::Value;
use tokio::process::Command;

use chorus_testkit::{Endpoint, Sandbox};

use crate::compat::{javascript_suite_dir, repository_root};

const DOC: &str = "docs/api-coverage.md";

/// The "**N of M endpoints served**" line of the committed table.
fn documented_served(doc: &str) -> Option<u64> {
    let line = doc
        .lines()
        .find(|line| line.contains("endpoints served**"))?;
    line.trim_start_matches("**")
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

async fn node(arguments: &[&str], token: &str) -> String {
    let output = Command::new("node")
        .env("CHORUS_TOKEN", token)
        .arg("endpoints.mjs")
        .args(arguments)
        .current_dir(javascript_suite_dir())
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .expect("node runs (scripts/test.sh installs it)");
    assert!(
        output.status.success(),
        "node endpoints.mjs {arguments:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("UTF-8 output")
}

/// The committed catalogue (what the bad-input barrage aims at) is the installed client's.
#[tokio::test]
async fn the_endpoint_catalogue_is_the_installed_clients() {
    let generated = node(&["catalogue"], "").await;
    let committed = std::fs::read_to_string(javascript_suite_dir().join("endpoints.json"))
        .expect("tests/compat/js/endpoints.json");
    assert!(
        generated == committed,
        "tests/compat/js/endpoints.json is not what the installed @mattermost/client calls: \
         regenerate it with `node endpoints.mjs catalogue > endpoints.json` in tests/compat/js"
    );
}

/// No endpoint that was served stops being served; with CHORUS_API_COVERAGE_WRITE=1 (what
/// scripts/api-coverage.sh sets) the table in docs/ is rewritten.
#[tokio::test]
async fn the_served_share_of_the_official_client_never_drops() {
    let server = Sandbox::start().await;
    server.signup("admin").await;
    let prober = server.signup("prober").await;
    let write = std::env::var_os("CHORUS_API_COVERAGE_WRITE").is_some();
    let doc_path: PathBuf = repository_root().join(DOC);
    let table = std::env::temp_dir().join(format!("chorus-api-coverage-{}.md", std::process::id()));
    let table_arg = table.to_string_lossy().to_string();
    let report: Value = serde_json::from_str(
        &node(
            &["coverage", &server.base_url(), "--markdown", &table_arg],
            &prober.token,
        )
        .await,
    )
    .expect("the coverage JSON");
    let served = report["served"].as_u64().expect("served");
    let total = report["total"].as_u64().expect("total");
    println!("@mattermost/client endpoints served: {served} of {total}");
    if write {
        std::fs::copy(&table, &doc_path).expect("write docs/api-coverage.md");
    }
    let _ = std::fs::remove_file(&table);
    let documented = std::fs::read_to_string(&doc_path)
        .ok()
        .as_deref()
        .and_then(documented_served)
        .unwrap_or(0);
    assert!(
        served >= documented,
        "{DOC} records {documented} served endpoints, this node serves {served}: an endpoint \
         stopped being served (run scripts/api-coverage.sh to see which)"
    );
}
