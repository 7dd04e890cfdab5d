//! System endpoints: the admin config with secrets masked, the client config, health.

use chorus_config::FAKE_SETTING;

use chorus_testkit::{Endpoint, Sandbox};

#[tokio::test]
async fn admins_read_the_config_with_the_data_source_masked_and_others_are_refused() {
    let server = Sandbox::start().await;
    let admin = server.signup("admin").await;
    let member = server.signup("member").await;

    let reply = admin.api.get("/config").await;
    let config = reply.expect_status(200);
    assert_eq!(config["SqlSettings"]["DataSource"], FAKE_SETTING);
    assert_eq!(config["SqlSettings"]["DriverName"], "postgres");
    assert_eq!(config["TeamSettings"]["SiteName"], "Chorus Test Site");
    let database_url = server.database_url();
    let database_name = database_url.rsplit('/').next().unwrap();
    let database_name = database_name.split('?').next().unwrap();
    assert!(
        !reply.text.contains(&database_url) && !reply.text.contains(database_name),
        "the data source leaks through GET /config"
    );

    member.api.get("/config").await.expect_error(403);
    server.anonymous().get("/config").await.expect_error(401);
}

#[tokio::test]
async fn the_client_config_in_old_format_names_the_site() {
    let server = Sandbox::start().await;
    let alice = server.signup("alice").await;

    for (who, api) in [
        ("logged in", &alice.api),
        ("anonymous", &server.anonymous()),
    ] {
        let client_config = api
            .get("/config/client?format=old")
            .await
            .expect_status(200);
        assert_eq!(client_config["SiteName"], "Chorus Test Site", "{who}");
        assert_eq!(
            client_config["Version"],
            chorus_model::SERVER_VERSION,
            "{who}"
        );
        assert_eq!(client_config["EnableOpenServer"], "true", "{who}");
        assert!(
            client_config
                .as_object()
                .unwrap()
                .values()
                .all(|value| value.is_string()),
            "every client config value is a string ({who}): {client_config}"
        );
    }
    let logged_in = alice
        .api
        .get("/config/client?format=old")
        .await
        .expect_status(200);
    assert_eq!(logged_in["EnableUserAccessTokens"], "true");

    alice.api.get("/config/client").await.expect_error(501);
}

#[tokio::test]
async fn ping_reports_the_database_and_file_store_healthy() {
    let server = Sandbox::start().await;
    let anonymous = server.anonymous();

    let quick = anonymous.get("/system/ping").await;
    assert_eq!(quick.expect_status(200)["status"], "OK");
    assert!(quick
        .header("x-request-id")
        .is_some_and(|id| id.len() == 26));
    assert!(
        quick
            .header("x-version-id")
            .is_some_and(|version| version.starts_with(chorus_model::SERVER_VERSION)),
        "{quick:?}"
    );
    assert_eq!(quick.header("content-type"), Some("application/json"));

    let full = anonymous
        .get("/system/ping?get_server_status=true")
        .await
        .expect_status(200);
    assert_eq!(full["status"], "OK", "{full}");
    assert_eq!(full["database_status"], "OK", "{full}");
    assert_eq!(full["filestore_status"], "OK", "{full}");

    let legacy = anonymous
        .send(reqwest::Client::new().get(format!("{}/api/v3/general/ping", server.base_url())))
        .await;
    assert_eq!(
        legacy.expect_status(200)["version"],
        chorus_model::SERVER_VERSION
    );
}

#[tokio::test]
async fn ping_reports_an_unusable_file_store() {
    // A regular file where the file store's directory should be: nothing can be written.
    let not_a_directory = tempfile::NamedTempFile::new().expect("a temp file");
    let directory = not_a_directory.path().join("files");
    let server = Sandbox::builder()
        .configure(move |config| {
            config.file_settings.directory = directory.to_string_lossy().into_owned()
        })
        .start()
        .await;

    let reply = server
        .anonymous()
        .get("/system/ping?get_server_status=true")
        .await;
    // Mattermost answers 500; Chorus 503 so that balancers route around the node.
    assert!(
        reply.status == 500 || reply.status == 503,
        "an unhealthy node must fail the health check: {reply:?}"
    );
    assert_eq!(reply.json["filestore_status"], "UNHEALTHY", "{reply:?}");
    assert_eq!(reply.json["database_status"], "OK", "{reply:?}");
}
