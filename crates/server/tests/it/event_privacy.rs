//! What websocket events show of other users: every reader gets what REST would show them,
//! never more. A changed user reaches the user themselves in full, system admins as an admin
//! sees them, and everyone else sanitized (no notification settings, no login data), one
//! `user_updated` per connection, on every node of a cluster.

use std::time::Duration;

use serde_json::{json, Value};

use chorus_testkit::client::TestUser;
use chorus_testkit::socket::EventSocket;
use chorus_testkit::{Endpoint, Sandbox};

/// How long a socket is watched for a second copy of the same `user_updated`.
const SECOND_COPY_WINDOW: Duration = Duration::from_millis(700);

/// A wrong password for `username`, so its `failed_attempts` is not 0.
async fn fail_one_login(server: &impl Endpoint, username: &str) {
    server
        .anonymous()
        .post(
            "/users/login",
            json!({"login_id": username, "password": "not-the-password-1"}),
        )
        .await
        .expect_error(401);
}

/// The one `user_updated` about `user_id` this socket receives: fails when a second copy
/// follows.
async fn the_only_user_updated(socket: &mut EventSocket, user_id: &str) -> Value {
    let is_about_user = |event: &Value| event["data"]["user"]["id"] == user_id;
    let event = socket
        .wait_for_matching("user_updated", is_about_user)
        .await;
    let more: Vec<Value> = socket
        .events_within(SECOND_COPY_WINDOW)
        .await
        .into_iter()
        .filter(|later| later["event"] == "user_updated" && is_about_user(later))
        .collect();
    assert!(
        more.is_empty(),
        "one user_updated per connection, got also {more:?} after {event}"
    );
    event
}

/// What `reader` gets from GET /users/{id}.
async fn as_rest_shows(reader: &TestUser, user_id: &str) -> Value {
    reader
        .api
        .get(&format!("/users/{user_id}"))
        .await
        .expect_status(200)
}

fn assert_sanitized(user: &Value) {
    assert_eq!(user["notify_props"], json!({}), "{user}");
    assert_eq!(user["failed_attempts"], 0, "{user}");
    assert!(user["auth_data"].is_null(), "{user}");
    assert!(user.get("password").is_none(), "{user}");
}

fn assert_full(user: &Value) {
    assert_eq!(user["failed_attempts"], 1, "{user}");
    assert!(
        user["notify_props"]
            .as_object()
            .is_some_and(|props| !props.is_empty()),
        "{user}"
    );
    assert!(user.get("password").is_none(), "{user}");
}

/// root (the first user: system admin), alice (who changes) and bob watch the change from
/// sockets on `root_node`, `alice_node` and `bob_node`.
async fn each_reader_gets_their_copy(
    root_node: &impl Endpoint,
    alice_node: &impl Endpoint,
    bob_node: &impl Endpoint,
) {
    let root = root_node.signup("root").await;
    let alice = alice_node.signup("alice").await;
    let bob = bob_node.signup("bob").await;
    let mut roots_socket = EventSocket::connect(root_node, &root.token).await;
    let mut alices_socket = EventSocket::connect(alice_node, &alice.token).await;
    let mut bobs_socket = EventSocket::connect(bob_node, &bob.token).await;
    fail_one_login(alice_node, "alice").await;

    alice
        .api
        .put("/users/me/patch", json!({"nickname": "Al"}))
        .await
        .expect_status(200);

    let bobs_copy = the_only_user_updated(&mut bobs_socket, &alice.id).await;
    let bobs_user = &bobs_copy["data"]["user"];
    assert_eq!(bobs_user["nickname"], "Al");
    assert_sanitized(bobs_user);
    assert_eq!(*bobs_user, as_rest_shows(&bob, &alice.id).await);
    assert_eq!(bobs_copy["broadcast"]["contains_sanitized_data"], true);

    let alices_copy = the_only_user_updated(&mut alices_socket, &alice.id).await;
    let alices_user = &alices_copy["data"]["user"];
    assert_eq!(alices_user["nickname"], "Al");
    assert_full(alices_user);
    assert_eq!(*alices_user, as_rest_shows(&alice, &alice.id).await);
    assert_eq!(alices_copy["broadcast"]["user_id"], alice.id.as_str());

    let roots_copy = the_only_user_updated(&mut roots_socket, &alice.id).await;
    let roots_user = &roots_copy["data"]["user"];
    assert_eq!(roots_user["nickname"], "Al");
    assert_eq!(*roots_user, as_rest_shows(&root, &alice.id).await);
    assert_eq!(roots_copy["broadcast"]["contains_sensitive_data"], true);
    assert_eq!(roots_copy["broadcast"]["omit_users"][&alice.id], true);
}

#[tokio::test]
async fn a_changed_user_reaches_each_reader_as_rest_shows_it_to_them_once() {
    let server = Sandbox::start().await;
    each_reader_gets_their_copy(&server, &server, &server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_user_reaches_each_reader_as_rest_shows_it_to_them_once_across_nodes() {
    let sandbox = Sandbox::builder().nodes(2).start().await;
    // alice changes on node 0; root and bob read on node 1.
    each_reader_gets_their_copy(sandbox.node(1), sandbox.node(0), sandbox.node(1)).await;
}

#[tokio::test]
async fn a_user_made_admin_while_connected_gets_the_admin_copy_from_then_on() {
    let server = Sandbox::start().await;
    let root = server.signup("root").await;
    let alice = server.signup("alice").await;
    let bob = server.signup("bob").await;
    let mut bobs_socket = EventSocket::connect(&server, &bob.token).await;
    fail_one_login(&server, "alice").await;

    root.api
        .put(
            &format!("/users/{}/roles", bob.id),
            json!({"roles": "system_user system_admin"}),
        )
        .await
        .expect_status(200);

    // The role reaches bob's connection asynchronously: change alice until it shows.
    for attempt in 0..20 {
        alice
            .api
            .put(
                "/users/me/patch",
                json!({"nickname": format!("Al{attempt}")}),
            )
            .await
            .expect_status(200);
        let copy = the_only_user_updated(&mut bobs_socket, &alice.id).await;
        if copy["broadcast"]["contains_sensitive_data"] == true {
            assert_full(&copy["data"]["user"]);
            return;
        }
        assert_sanitized(&copy["data"]["user"]);
    }
    panic!("bob never received the admins' copy after becoming a system admin");
}
