//! The web client as a browser fetches it: every node serves the same build through NGINX,
//! hashed bundles cached for a year, index.html for the client's own routes with no-cache and
//! a Content-Security-Policy, and the API's JSON 404 left alone. Needs the built client
//! (web/dist, from scripts/build-web.sh, which scripts/test.sh runs).

use reqwest::StatusCode;

use chorus_testkit::{Endpoint, Sandbox};

use crate::compat::repository_root;

struct Fetched {
    status: StatusCode,
    content_type: String,
    cache_control: String,
    csp: Option<String>,
    body: Vec<u8>,
}

async fn fetch(base: &str, path: &str) -> Fetched {
    let response = reqwest::Client::new()
        .get(format!("{base}{path}"))
        .send()
        .await
        .expect("an answer");
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|value| value.to_str().ok())
            .map(str::to_string)
    };
    Fetched {
        status: response.status(),
        content_type: header("content-type").unwrap_or_default(),
        cache_control: header("cache-control").unwrap_or_default(),
        csp: header("content-security-policy"),
        body: response.bytes().await.expect("a body").to_vec(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_node_serves_the_web_client_with_caching_and_a_content_security_policy() {
    assert!(
        repository_root().join("web/dist/index.html").exists(),
        "web/dist is not built: run scripts/build-web.sh (scripts/test.sh does)"
    );
    let sandbox = Sandbox::builder().nodes(2).nginx().start().await;
    let through_nginx = sandbox.base_url();

    let index = fetch(&through_nginx, "/").await;
    assert_eq!(index.status, StatusCode::OK);
    assert!(
        index.content_type.starts_with("text/html"),
        "{}",
        index.content_type
    );
    assert_eq!(index.cache_control, "no-cache");
    let csp = index.csp.clone().expect("a Content-Security-Policy");
    assert!(
        csp.contains("default-src 'self'") && csp.contains("img-src 'self' blob: data:"),
        "{csp}"
    );
    let html = String::from_utf8(index.body.clone()).unwrap();
    assert!(html.contains("<div id=\"root\">"), "{html}");

    // The client's own routes get the same page.
    for route in [
        "/login",
        "/myteam/channels/town-square",
        "/admin_console/environment/high_availability",
    ] {
        let page = fetch(&through_nginx, route).await;
        assert_eq!(page.status, StatusCode::OK, "{route}");
        assert_eq!(page.body, index.body, "{route} is the app");
        assert_eq!(page.cache_control, "no-cache");
    }

    // Its bundles: hashed names, immutable, the same bytes from every node.
    let bundles: Vec<&str> = html
        .split('"')
        .filter(|part| part.starts_with("/static/"))
        .collect();
    assert!(bundles.iter().any(|b| b.ends_with(".js")), "{html}");
    for bundle in bundles {
        let via_nginx = fetch(&through_nginx, bundle).await;
        assert_eq!(via_nginx.status, StatusCode::OK, "{bundle}");
        assert_eq!(
            via_nginx.cache_control,
            "public, max-age=31536000, immutable"
        );
        assert!(via_nginx.csp.is_none());
        if bundle.ends_with(".js") {
            assert!(
                via_nginx.content_type.contains("javascript"),
                "{}",
                via_nginx.content_type
            );
        }
        for node in sandbox.nodes() {
            assert_eq!(fetch(&node.base_url(), bundle).await.body, via_nginx.body);
        }
    }

    // A missing bundle is a 404, not the app; the API keeps its JSON 404.
    assert_eq!(
        fetch(&through_nginx, "/static/missing-0000.js")
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let api = fetch(&through_nginx, "/api/v4/no/such/route").await;
    assert_eq!(api.status, StatusCode::NOT_FOUND);
    let error: serde_json::Value = serde_json::from_slice(&api.body).expect("JSON");
    assert_eq!(error["id"], "api.context.404.app_error");
    sandbox.stop().await;
}

/// Runs browser test files of web/tests (node --test, one file at a time: each drives its own
/// chromium) against `server`, which the files reach through NGINX (CHORUS_URL). CHORUS_NODES
/// tells them the nodes behind it, with the pids of process nodes, for tests that kill one.
async fn run_browser_tests(name: &str, files: &[&str], server: &Sandbox) {
    let web_dir = repository_root().join("web");
    assert!(
        web_dir.join("node_modules/puppeteer-core").is_dir()
            && web_dir.join("dist/index.html").exists(),
        "web/ is not built: run scripts/build-web.sh (scripts/test.sh does)"
    );
    let nodes: Vec<serde_json::Value> = server
        .nodes()
        .iter()
        .map(|node| {
            serde_json::json!({
                "url": node.base_url(),
                "pid": node.pid(),
                "metrics": node.metrics_url(),
            })
        })
        .collect();
    let mut command = tokio::process::Command::new("node");
    command
        .arg("--test")
        .arg("--test-concurrency=1")
        .arg("--test-timeout=240000")
        .args(files)
        .current_dir(&web_dir)
        .env("CHORUS_NODES", serde_json::Value::Array(nodes).to_string());
    if let Ok(directory) = std::env::var("CHORUS_SCREENSHOTS") {
        command.env("CHORUS_SCREENSHOTS", directory);
    }
    crate::compat::run_suite(name, command, server).await;
}

/// People in real browsers (chromium through puppeteer-core) through NGINX in front of three
/// nodes: log in, chat live, and everything else of the chat screen (web/tests/*.test.mjs).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn people_log_in_and_chat_live_in_real_browsers() {
    let server = Sandbox::builder()
        .nodes(3)
        .replicas(1)
        .nginx()
        // Small enough that NGINX passes an oversized upload on and the node's own error shows.
        .configure(|config| config.file_settings.max_file_size = 5 * 1024 * 1024)
        .start()
        .await;
    server.create_account(crate::compat::ADMIN_USERNAME).await;
    run_browser_tests(
        "web client in chromium",
        &[
            "tests/browser.test.mjs",
            "tests/sidebar.test.mjs",
            "tests/posts.test.mjs",
            "tests/threads.test.mjs",
        ],
        &server,
    )
    .await;
    server.stop().await;
}

/// The node serving a browser is SIGKILLed while another person posts: the page reconnects
/// through NGINX and shows every missed post once, without a reload; what was typed stays; a
/// post whose answer was lost is retried with its pending_post_id and made once
/// (web/tests/failover.test.mjs). Nodes are processes, so the test can kill one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_rides_out_the_death_of_the_node_serving_it() {
    let server = Sandbox::builder()
        .nodes(3)
        .replicas(1)
        .nginx()
        // The test finds the node serving the page by its websocket gauge.
        .configure(|config| config.metrics_settings.enable = true)
        .processes(env!("CARGO_BIN_EXE_chorus"))
        .start()
        .await;
    server.create_account(crate::compat::ADMIN_USERNAME).await;
    run_browser_tests(
        "failover in chromium",
        &["tests/failover.test.mjs"],
        &server,
    )
    .await;
    server.stop().await;
}

/// The System Console in chromium (web/tests/console.test.mjs): the High Availability page with
/// a green row per node that turns red when its node is SIGKILLed (nodes are processes), Web
/// Server and Database actions, replicas, Logging, Users, Teams, Channels and Jobs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_system_console_runs_the_cluster_and_shows_a_killed_node_red() {
    let server = Sandbox::builder()
        .nodes(3)
        .replicas(1)
        .nginx()
        .processes(env!("CARGO_BIN_EXE_chorus"))
        .start()
        .await;
    server.create_account(crate::compat::ADMIN_USERNAME).await;
    run_browser_tests(
        "System Console in chromium",
        &["tests/console.test.mjs"],
        &server,
    )
    .await;
    server.stop().await;
}
