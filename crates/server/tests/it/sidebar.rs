//! Sidebar categories: the default Favorites / Channels / Direct Messages created on first
//! read, new channels landing in them, custom categories, order, the favorites preference
//! kept in step, Mattermost's permissions and error ids, and the `sidebar_category_*` events.

use serde_json::{json, Value};

use chorus_testkit::client::{id_of, TestUser};
use chorus_testkit::socket::EventSocket;
use chorus_testkit::{Endpoint, Sandbox};

/// The server admin (first user), then alice (team creator) and bob in one team.
async fn team_of_alice_and_bob(server: &Sandbox) -> (TestUser, TestUser, TestUser, String) {
    let admin = server.signup("sidebaradmin").await;
    let alice = server.signup("alice").await;
    let bob = server.signup("bob").await;
    let team_id = id_of(&alice.create_team("crew", "O").await);
    alice.add_to_team(&team_id, &bob.id).await;
    (admin, alice, bob, team_id)
}

fn categories_path(user_id: &str, team_id: &str) -> String {
    format!("/users/{user_id}/teams/{team_id}/channels/categories")
}

async fn categories_of(user: &TestUser, team_id: &str) -> Value {
    user.api
        .get(&categories_path("me", team_id))
        .await
        .expect_status(200)
}

/// The category of a type in a list answer.
fn category_of_type<'a>(categories: &'a Value, category_type: &str) -> &'a Value {
    categories["categories"]
        .as_array()
        .expect("categories")
        .iter()
        .find(|category| category["type"] == category_type)
        .unwrap_or_else(|| panic!("no {category_type} category in {categories}"))
}

fn channel_ids(category: &Value) -> Vec<String> {
    category["channel_ids"]
        .as_array()
        .expect("channel_ids")
        .iter()
        .map(|id| id.as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn default_categories_are_made_on_first_read_and_new_channels_land_in_them() {
    let server = Sandbox::start().await;
    let (_admin, alice, bob, team_id) = team_of_alice_and_bob(&server).await;
    let town_square = id_of(&alice.channel_by_name(&team_id, "town-square").await);
    let off_topic = id_of(&alice.channel_by_name(&team_id, "off-topic").await);

    let categories = categories_of(&alice, &team_id).await;
    let expected_ids: Vec<String> = ["favorites", "channels", "direct_messages"]
        .iter()
        .map(|kind| format!("{kind}_{}_{team_id}", alice.id))
        .collect();
    assert_eq!(categories["order"], json!(expected_ids));
    let favorites = category_of_type(&categories, "favorites");
    assert_eq!(favorites["display_name"], "Favorites");
    assert_eq!(favorites["user_id"], alice.id.as_str());
    assert_eq!(favorites["team_id"], team_id.as_str());
    assert_eq!(favorites["sort_order"], 0);
    assert_eq!(favorites["collapsed"], false);
    assert_eq!(favorites["muted"], false);
    assert_eq!(channel_ids(favorites), Vec::<String>::new());
    let channels = category_of_type(&categories, "channels");
    assert_eq!(channels["sort_order"], 10);
    let mut in_channels = channel_ids(channels);
    in_channels.sort();
    let mut defaults = vec![town_square.clone(), off_topic.clone()];
    defaults.sort();
    assert_eq!(in_channels, defaults);
    let direct = category_of_type(&categories, "direct_messages");
    assert_eq!(direct["sorting"], "recent");
    assert_eq!(direct["display_name"], "Direct Messages");

    // A second read gives the same categories, not new ones.
    let again = categories_of(&alice, &team_id).await;
    assert_eq!(again["order"], categories["order"]);

    let plans = id_of(&alice.create_channel(&team_id, "plans", "P").await);
    let direct_channel = id_of(
        &alice
            .api
            .post("/channels/direct", json!([alice.id, bob.id]))
            .await
            .expect_status(201),
    );
    let categories = categories_of(&alice, &team_id).await;
    assert!(channel_ids(category_of_type(&categories, "channels")).contains(&plans));
    assert_eq!(
        channel_ids(category_of_type(&categories, "direct_messages")),
        vec![direct_channel.clone()]
    );
    let order = alice
        .api
        .get(&format!("{}/order", categories_path("me", &team_id)))
        .await
        .expect_status(200);
    assert_eq!(order, json!(expected_ids));
    let one = alice
        .api
        .get(&format!(
            "{}/{}",
            categories_path("me", &team_id),
            expected_ids[2]
        ))
        .await
        .expect_status(200);
    assert_eq!(channel_ids(&one), vec![direct_channel]);
}

#[tokio::test]
async fn custom_categories_are_created_updated_reordered_and_deleted_with_their_events() {
    let server = Sandbox::start().await;
    let (_admin, alice, _bob, team_id) = team_of_alice_and_bob(&server).await;
    let laptop = server.log_in_as("alice").await;
    let mut socket = EventSocket::connect(&server, &laptop.token).await;
    let plans = id_of(&alice.create_channel(&team_id, "plans", "O").await);
    let path = categories_path(&alice.id, &team_id);
    let defaults = categories_of(&alice, &team_id).await;

    let created = alice
        .api
        .post(
            &path,
            json!({"user_id": alice.id, "team_id": team_id, "display_name": "Projects",
                   "channel_ids": [plans]}),
        )
        .await
        .expect_status(200);
    let custom_id = id_of(&created);
    assert_eq!(custom_id.len(), 26);
    assert_eq!(created["type"], "custom");
    assert_eq!(created["display_name"], "Projects");
    assert_eq!(channel_ids(&created), vec![plans.clone()]);
    let event = socket.wait_for("sidebar_category_created").await;
    assert_eq!(event["data"]["category_id"], custom_id.as_str());
    assert_eq!(event["broadcast"]["user_id"], alice.id.as_str());
    assert_eq!(event["broadcast"]["team_id"], team_id.as_str());

    // After favorites; the channel left the channels category.
    let categories = categories_of(&alice, &team_id).await;
    let order: Vec<String> = serde_json::from_value(categories["order"].clone()).unwrap();
    assert_eq!(order[0], defaults["order"][0].as_str().unwrap());
    assert_eq!(order[1], custom_id);
    assert!(!channel_ids(category_of_type(&categories, "channels")).contains(&plans));

    let renamed = alice
        .api
        .put(
            &format!("{path}/{custom_id}"),
            json!({"id": custom_id, "user_id": alice.id, "team_id": team_id,
                   "display_name": "Work", "collapsed": true, "channel_ids": [plans]}),
        )
        .await
        .expect_status(200);
    assert_eq!(renamed["display_name"], "Work");
    assert_eq!(renamed["collapsed"], true);
    let event = socket.wait_for("sidebar_category_updated").await;
    let updated: Value = serde_json::from_str(
        event["data"]["updatedCategories"]
            .as_str()
            .expect("updatedCategories is a JSON string, as Mattermost sends it"),
    )
    .unwrap();
    assert_eq!(updated[0]["display_name"], "Work");

    let mut reversed = order.clone();
    reversed.reverse();
    let answer = alice
        .api
        .put(&format!("{path}/order"), json!(reversed))
        .await
        .expect_status(200);
    assert_eq!(answer, json!(reversed));
    let event = socket.wait_for("sidebar_category_order_updated").await;
    assert_eq!(event["data"]["order"], json!(reversed));
    assert_eq!(
        categories_of(&alice, &team_id).await["order"],
        json!(reversed)
    );

    alice
        .api
        .delete(&format!("{path}/{custom_id}"))
        .await
        .expect_status(200);
    let event = socket.wait_for("sidebar_category_deleted").await;
    assert_eq!(event["data"]["category_id"], custom_id.as_str());
    let categories = categories_of(&alice, &team_id).await;
    assert_eq!(categories["categories"].as_array().unwrap().len(), 3);
    assert!(channel_ids(category_of_type(&categories, "channels")).contains(&plans));
}

#[tokio::test]
async fn the_favorites_category_and_the_favorite_channel_preference_follow_each_other() {
    let server = Sandbox::start().await;
    let (_admin, alice, _bob, team_id) = team_of_alice_and_bob(&server).await;
    let plans = id_of(&alice.create_channel(&team_id, "plans", "O").await);
    let notes = id_of(&alice.create_channel(&team_id, "notes", "O").await);
    // Marked before the categories exist: they start with it.
    alice
        .api
        .put(
            "/users/me/preferences",
            json!([{"user_id": alice.id, "category": "favorite_channel", "name": plans, "value": "true"}]),
        )
        .await
        .expect_status(200);
    let categories = categories_of(&alice, &team_id).await;
    let favorites = category_of_type(&categories, "favorites").clone();
    assert_eq!(channel_ids(&favorites), vec![plans.clone()]);
    assert!(!channel_ids(category_of_type(&categories, "channels")).contains(&plans));

    // Marked afterwards: it moves in; unmarked: it moves out.
    alice
        .api
        .put(
            "/users/me/preferences",
            json!([{"user_id": alice.id, "category": "favorite_channel", "name": notes, "value": "true"}]),
        )
        .await
        .expect_status(200);
    let categories = categories_of(&alice, &team_id).await;
    assert_eq!(
        channel_ids(category_of_type(&categories, "favorites")),
        vec![notes.clone(), plans.clone()],
        "a new favorite comes first"
    );
    alice
        .api
        .put(
            "/users/me/preferences",
            json!([{"user_id": alice.id, "category": "favorite_channel", "name": notes, "value": "false"}]),
        )
        .await
        .expect_status(200);
    let categories = categories_of(&alice, &team_id).await;
    assert_eq!(
        channel_ids(category_of_type(&categories, "favorites")),
        vec![plans.clone()]
    );

    // Emptying the category through the API removes the preference; filling it adds one.
    let mut emptied = favorites.clone();
    emptied["channel_ids"] = json!([]);
    alice
        .api
        .put(&categories_path("me", &team_id), json!([emptied]))
        .await
        .expect_status(200);
    // Mattermost answers a missing preference with 400.
    let reply = alice
        .api
        .get(&format!(
            "/users/me/preferences/favorite_channel/name/{plans}"
        ))
        .await;
    assert_eq!(reply.expect_error(400), "app.preference.get.app_error");
    let mut filled = favorites.clone();
    filled["channel_ids"] = json!([notes]);
    let answer = alice
        .api
        .put(&categories_path("me", &team_id), json!([filled]))
        .await
        .expect_status(200);
    assert_eq!(channel_ids(&answer[0]), vec![notes.clone()]);
    let preference = alice
        .api
        .get(&format!(
            "/users/me/preferences/favorite_channel/name/{notes}"
        ))
        .await
        .expect_status(200);
    assert_eq!(preference["value"], "true");
}

#[tokio::test]
async fn only_the_user_or_a_system_admin_reach_categories_and_bad_input_gets_mattermost_ids() {
    let server = Sandbox::start().await;
    let (admin, alice, bob, team_id) = team_of_alice_and_bob(&server).await;
    let path = categories_path(&alice.id, &team_id);
    let categories = categories_of(&alice, &team_id).await;
    let favorites_id = categories["order"][0].as_str().unwrap().to_string();
    let bobs = categories_of(&bob, &team_id).await;
    let bobs_favorites = bobs["order"][0].as_str().unwrap().to_string();

    let reply = bob.api.get(&path).await;
    assert_eq!(reply.expect_error(403), "api.context.permissions.app_error");
    let reply = bob.api.get(&format!("{path}/{favorites_id}")).await;
    assert_eq!(reply.expect_error(403), "api.context.permissions.app_error");
    let reply = bob.api.delete(&format!("{path}/{favorites_id}")).await;
    assert_eq!(reply.expect_error(403), "api.context.permissions.app_error");
    // The admin reads alice's.
    let seen = admin.api.get(&path).await.expect_status(200);
    assert_eq!(seen["order"], categories["order"]);
    // A category id of someone else, in alice's own path.
    let reply = alice.api.get(&format!("{path}/{bobs_favorites}")).await;
    assert_eq!(reply.expect_error(403), "api.context.permissions.app_error");

    let reply = alice
        .api
        .post(
            &path,
            json!({"user_id": bob.id, "team_id": team_id, "display_name": "Mine"}),
        )
        .await;
    assert_eq!(
        reply.expect_error(400),
        "api.context.invalid_body_param.app_error"
    );
    let reply = alice.api.get(&format!("{path}/not_a_category")).await;
    assert_eq!(
        reply.expect_error(400),
        "api.context.invalid_url_param.app_error"
    );
    let reply = alice
        .api
        .put(&format!("{path}/order"), json!([favorites_id]))
        .await;
    assert_eq!(
        reply.expect_error(400),
        "app.channel.sidebar_categories.app_error"
    );
    let mut with_bobs: Vec<Value> = categories["order"].as_array().unwrap().clone();
    with_bobs[0] = json!(bobs_favorites);
    let reply = alice
        .api
        .put(&format!("{path}/order"), json!(with_bobs))
        .await;
    assert_eq!(
        reply.expect_error(400),
        "api.context.invalid_body_param.app_error"
    );
    let reply = alice.api.delete(&format!("{path}/{favorites_id}")).await;
    assert_eq!(
        reply.expect_error(400),
        "app.channel.sidebar_categories.app_error"
    );

    // Channels the user is not in are dropped, as Mattermost does.
    let bobs_secret = id_of(&bob.create_channel(&team_id, "secret", "P").await);
    let created = alice
        .api
        .post(
            &path,
            json!({"user_id": alice.id, "team_id": team_id, "display_name": "Spy",
                   "channel_ids": [bobs_secret]}),
        )
        .await
        .expect_status(200);
    assert_eq!(channel_ids(&created), Vec::<String>::new());
}

#[tokio::test]
async fn muting_a_category_mutes_its_channels_and_leaving_the_team_clears_the_categories() {
    let server = Sandbox::start().await;
    let (_admin, alice, _bob, team_id) = team_of_alice_and_bob(&server).await;
    let mut socket = EventSocket::connect(&server, &alice.token).await;
    let plans = id_of(&alice.create_channel(&team_id, "plans", "O").await);
    let path = categories_path("me", &team_id);
    categories_of(&alice, &team_id).await;
    let mut custom = alice
        .api
        .post(
            &path,
            json!({"user_id": alice.id, "team_id": team_id, "display_name": "Quiet",
                   "channel_ids": [plans]}),
        )
        .await
        .expect_status(200);
    custom["muted"] = json!(true);
    let muted = alice
        .api
        .put(&path, json!([custom]))
        .await
        .expect_status(200);
    assert_eq!(muted[0]["muted"], true);
    let event = socket
        .wait_for_matching("channel_member_updated", |event| {
            event["data"]["channelMember"]
                .as_str()
                .is_some_and(|member| member.contains(&plans))
        })
        .await;
    let member: Value =
        serde_json::from_str(event["data"]["channelMember"].as_str().unwrap()).unwrap();
    assert_eq!(member["notify_props"]["mark_unread"], "mention");
    let stored = alice
        .api
        .get(&format!("/channels/{plans}/members/me"))
        .await
        .expect_status(200);
    assert_eq!(stored["notify_props"]["mark_unread"], "mention");

    // Leaving the team clears alice's categories there; back in, she starts from the defaults.
    alice
        .api
        .delete(&format!("/teams/{team_id}/members/{}", alice.id))
        .await
        .expect_status(200);
    let outside = categories_of(&alice, &team_id).await;
    assert_eq!(outside["categories"], json!([]));
    alice.add_to_team(&team_id, &alice.id).await;
    let back = categories_of(&alice, &team_id).await;
    assert_eq!(back["categories"].as_array().unwrap().len(), 3);
}

/// Sidebar events cannot be rebuilt from the database: a client of a node that died resumes
/// on another node as usual, unless its user's categories changed after its checkpoint, when
/// it gets a new connection (and resyncs) instead of silently missing the change.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_category_change_after_a_node_died_makes_its_clients_resync() {
    use crate::cluster::{sign_up, wait_until};
    use std::time::Duration;

    let sandbox = Sandbox::builder()
        .nodes(2)
        .processes(env!("CARGO_BIN_EXE_chorus"))
        .configure(|config| config.log_settings.console_level = "WARN".to_string())
        .start()
        .await;
    let (node_a, node_b) = (sandbox.node(0), sandbox.node(1));
    let (_admin_id, admin_token) = sign_up(&node_b.api(), "sidebar-admin").await;
    let (bob_id, bob_token) = sign_up(&node_b.api(), "sidebar-bob").await;
    let admin = node_b.api().with_token(&admin_token);
    let bob = node_b.api().with_token(&bob_token);
    let team_id = id_of(
        &admin
            .post(
                "/teams",
                json!({"name": "sidebar-team", "display_name": "Sidebar", "type": "O"}),
            )
            .await
            .expect_status(201),
    );
    admin
        .post(
            &format!("/teams/{team_id}/members"),
            json!({"team_id": team_id, "user_id": bob_id}),
        )
        .await
        .expect_status(201);
    let town_square = id_of(
        &admin
            .get(&format!("/teams/{team_id}/channels/name/town-square"))
            .await
            .expect_status(200),
    );
    let categories_path = categories_path("me", &team_id);
    let order = bob
        .get(&format!("{categories_path}/order"))
        .await
        .expect_status(200);
    wait_until(Duration::from_secs(15), "two live nodes", || async {
        let status = admin.get("/cluster/status").await.expect_status(200);
        let nodes = status.as_array().cloned().unwrap_or_default();
        nodes.len() == 2 && nodes.iter().all(|node| node["alive"] == true)
    })
    .await;

    let mut quiet = EventSocket::connect_url(&node_a.websocket_url(), &bob_token).await;
    let mut changed = EventSocket::connect_url(&node_a.websocket_url(), &bob_token).await;
    let (quiet_id, changed_id) = (quiet.connection_id(), changed.connection_id());
    admin
        .post(
            "/posts",
            json!({"channel_id": town_square, "message": "before the crash"}),
        )
        .await
        .expect_status(201);
    quiet.wait_for("posted").await;
    changed.wait_for("posted").await;
    let (quiet_seq, changed_seq) = (quiet.last_seq() + 1, changed.last_seq() + 1);
    drop(quiet);
    drop(changed);
    tokio::time::sleep(Duration::from_millis(200)).await;
    node_a.kill();
    wait_until(Duration::from_secs(15), "node A seen dead", || async {
        let status = admin.get("/cluster/status").await.expect_status(200);
        status
            .as_array()
            .is_some_and(|nodes| nodes.iter().any(|node| node["alive"] == false))
    })
    .await;

    // Nothing of bob's changed: the connection resumes from the database.
    let mut resumed =
        EventSocket::resume_url(&node_b.websocket_url(), &bob_token, &quiet_id, quiet_seq).await;
    admin
        .post(
            "/posts",
            json!({"channel_id": town_square, "message": "after the crash"}),
        )
        .await
        .expect_status(201);
    let live = resumed.wait_for("posted").await;
    assert_eq!(live["seq"], quiet_seq, "resumed, not a new connection");

    // Bob reorders his categories through node B: the other connection must resync.
    let mut reversed: Vec<Value> = order.as_array().unwrap().clone();
    reversed.reverse();
    bob.put(&format!("{categories_path}/order"), json!(reversed))
        .await
        .expect_status(200);
    let renewed = EventSocket::connect_url(
        &format!(
            "{}?connection_id={changed_id}&sequence_number={changed_seq}",
            node_b.websocket_url()
        ),
        &bob_token,
    )
    .await;
    assert_ne!(renewed.connection_id(), changed_id, "told to resync");
}
