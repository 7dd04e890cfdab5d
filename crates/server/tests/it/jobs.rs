//! /api/v4/jobs: system admins create, list, read and cancel jobs; a job created over REST is run
//! by a job server and its progress shows through GET.

use std::sync::Arc;
use std::time::Duration;

use chorus_config::{Config, SqlSettings};
use chorus_jobs::{JobServer, JobServerOptions, LeaderLease};
use chorus_store::Store;
use serde_json::json;

use chorus_testkit::client::{id_of, ids_of};
use chorus_testkit::{Endpoint, Sandbox};

#[tokio::test]
async fn admins_create_list_get_and_cancel_jobs_and_others_may_not() {
    // The node runs no jobs and schedules none: this test lists and cancels pending ones.
    let server = Sandbox::builder()
        .configure(|config| {
            config.job_settings.run_jobs = false;
            config.job_settings.run_scheduler = false;
        })
        .start()
        .await;
    let admin = server.signup("admin").await;
    let member = server.signup("member").await;

    let created = admin
        .api
        .post(
            "/jobs",
            json!({"type": "expired_sessions", "data": {"reason": "test"}}),
        )
        .await
        .expect_status(201);
    let job_id = id_of(&created);
    assert_eq!(created["type"], "expired_sessions");
    assert_eq!(created["status"], "pending");
    assert_eq!(created["progress"], 0);
    assert_eq!(created["data"], json!({"reason": "test"}));
    for key in ["priority", "create_at", "start_at", "last_activity_at"] {
        assert!(created[key].is_i64(), "{key} is a number: {created}");
    }
    let second = admin
        .api
        .post("/jobs", json!({"type": "data_retention", "data": null}))
        .await
        .expect_status(201);

    let fetched = admin
        .api
        .get(&format!("/jobs/{job_id}"))
        .await
        .expect_status(200);
    assert_eq!(fetched, created);
    let all = admin
        .api
        .get("/jobs?page=0&per_page=10")
        .await
        .expect_status(200);
    assert_eq!(
        ids_of(&all),
        vec![id_of(&second), job_id.clone()],
        "newest first"
    );
    let by_type = admin
        .api
        .get("/jobs/type/expired_sessions")
        .await
        .expect_status(200);
    assert_eq!(ids_of(&by_type), vec![job_id.clone()]);
    let filtered = admin
        .api
        .get("/jobs?job_type=data_retention&status=pending")
        .await
        .expect_status(200);
    assert_eq!(ids_of(&filtered), vec![id_of(&second)]);
    let second_page = admin
        .api
        .get("/jobs?page=1&per_page=1")
        .await
        .expect_status(200);
    assert_eq!(ids_of(&second_page), vec![job_id.clone()]);

    // Unknown types and statuses are refused with Mattermost's ids.
    let unknown = admin
        .api
        .post("/jobs", json!({"type": "mine_bitcoin"}))
        .await;
    assert_eq!(
        unknown.expect_error(400),
        "api.job.unable_to_create_job.incorrect_job_type"
    );
    let unknown_list = admin.api.get("/jobs/type/mine_bitcoin").await;
    assert_eq!(
        unknown_list.expect_error(400),
        "api.job.retrieve.nopermissions"
    );
    let bad_status = admin.api.get("/jobs?status=sleeping").await;
    assert_eq!(bad_status.expect_error(400), "api.job.status.invalid");
    let bad_data = admin
        .api
        .post(
            "/jobs",
            json!({"type": "expired_sessions", "data": {"n": 1}}),
        )
        .await;
    bad_data.expect_error(400);
    admin
        .api
        .get(&format!("/jobs/{}", chorus_model::new_id()))
        .await
        .expect_error(404);
    admin.api.get("/jobs/not-an-id").await.expect_error(400);

    // Only system admins.
    member
        .api
        .post("/jobs", json!({"type": "expired_sessions"}))
        .await
        .expect_error(403);
    member.api.get("/jobs").await.expect_error(403);
    member
        .api
        .get("/jobs/type/expired_sessions")
        .await
        .expect_error(403);
    member
        .api
        .get(&format!("/jobs/{job_id}"))
        .await
        .expect_error(403);
    member
        .api
        .post(&format!("/jobs/{job_id}/cancel"), json!({}))
        .await
        .expect_error(403);
    server.anonymous().get("/jobs").await.expect_error(401);

    // A pending job is canceled at once; canceling a finished job is refused.
    let canceled = admin
        .api
        .post(&format!("/jobs/{job_id}/cancel"), json!({}))
        .await
        .expect_status(200);
    assert_eq!(canceled, json!({"status": "OK"}));
    let after = admin
        .api
        .get(&format!("/jobs/{job_id}"))
        .await
        .expect_status(200);
    assert_eq!(after["status"], "canceled");
    let again = admin
        .api
        .post(&format!("/jobs/{job_id}/cancel"), json!({}))
        .await;
    assert_eq!(
        again.expect_error(400),
        "jobs.request_cancellation.status.error"
    );
    admin
        .api
        .post(
            &format!("/jobs/{}/cancel", chorus_model::new_id()),
            json!({}),
        )
        .await
        .expect_error(404);
}

#[tokio::test]
async fn a_job_created_over_rest_is_run_by_the_job_server() {
    let server = Sandbox::start().await;
    let admin = server.signup("admin").await;

    let settings = SqlSettings {
        data_source: server.database_url(),
        ..SqlSettings::default()
    };
    let store = Store::connect(&settings).expect("pools");
    let config = Config {
        sql_settings: settings,
        ..Config::default()
    };
    let config = Arc::new(config);
    let node_id = chorus_model::new_id();
    let lease = LeaderLease::standalone(node_id.clone());
    let options = JobServerOptions {
        poll_interval: Duration::from_millis(50),
        ..JobServerOptions::default()
    };
    let jobs = JobServer::start_with_options(
        store,
        Arc::new(move || config.clone()),
        node_id,
        lease,
        options,
    );

    let created = admin
        .api
        .post("/jobs", json!({"type": "expired_sessions"}))
        .await
        .expect_status(201);
    let job_id = id_of(&created);
    let give_up_at = std::time::Instant::now() + Duration::from_secs(10);
    let finished = loop {
        let job = admin
            .api
            .get(&format!("/jobs/{job_id}"))
            .await
            .expect_status(200);
        if job["status"] == "success" {
            break job;
        }
        assert!(
            std::time::Instant::now() < give_up_at,
            "job never finished: {job}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(finished["progress"], 100);
    assert!(finished["start_at"].as_i64().unwrap() >= finished["create_at"].as_i64().unwrap());
    assert!(finished["data"]["deleted_sessions"].is_string());
    jobs.shutdown().await;
}
