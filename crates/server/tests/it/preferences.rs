//! Preferences, saved (flagged) posts, roles and the client license: what the Mattermost apps
//! load at start-up, with Mattermost's permissions, error ids and websocket events.

use std::time::Duration;

use serde_json::{json, Value};

use chorus_testkit::client::{id_of, Reply, TestUser};
use chorus_testkit::socket::EventSocket;
use chorus_testkit::{Endpoint, Sandbox};

/// `[{user_id, category, name, value}]` for one user.
fn preferences_of(user: &TestUser, entries: &[(&str, &str, &str)]) -> Value {
    Value::Array(
        entries
            .iter()
            .map(|(category, name, value)| {
                json!({"user_id": user.id, "category": category, "name": name, "value": value})
            })
            .collect(),
    )
}

async fn save(user: &TestUser, owner_id: &str, preferences: Value) -> Reply {
    user.api
        .put(&format!("/users/{owner_id}/preferences"), preferences)
        .await
}

/// (category, name, value) of each preference in a list, sorted.
fn entries(list: &Value) -> Vec<(String, String, String)> {
    let mut found: Vec<(String, String, String)> = list
        .as_array()
        .expect("a list of preferences")
        .iter()
        .map(|preference| {
            (
                preference["category"].as_str().unwrap().to_string(),
                preference["name"].as_str().unwrap().to_string(),
                preference["value"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    found.sort();
    found
}

/// `entries` as [`entries`] returns them: owned and sorted.
fn owned(entries: &[(&str, &str, &str)]) -> Vec<(String, String, String)> {
    let mut found: Vec<(String, String, String)> = entries
        .iter()
        .map(|(category, name, value)| (category.to_string(), name.to_string(), value.to_string()))
        .collect();
    found.sort();
    found
}

#[tokio::test]
async fn preferences_are_saved_read_by_category_and_name_and_deleted() {
    let server = Sandbox::start().await;
    let _admin = server.signup("prefadmin").await;
    let alice = server.signup("alice").await;

    let saved = [
        ("display_settings", "use_military_time", "true"),
        ("display_settings", "name_format", "full_name"),
        ("tutorial_step", alice.id.as_str(), "999"),
    ];
    let reply = save(&alice, "me", preferences_of(&alice, &saved)).await;
    assert_eq!(reply.expect_status(200), json!({"status": "OK"}));

    let all = alice
        .api
        .get("/users/me/preferences")
        .await
        .expect_status(200);
    assert_eq!(entries(&all), owned(&saved));
    let display = alice
        .api
        .get(&format!("/users/{}/preferences/display_settings", alice.id))
        .await
        .expect_status(200);
    assert_eq!(entries(&display).len(), 2);
    let one = alice
        .api
        .get("/users/me/preferences/display_settings/name/name_format")
        .await
        .expect_status(200);
    assert_eq!(
        one,
        json!({"user_id": alice.id, "category": "display_settings", "name": "name_format", "value": "full_name"})
    );

    // Saving again updates in place.
    save(
        &alice,
        "me",
        preferences_of(&alice, &[("display_settings", "name_format", "username")]),
    )
    .await
    .expect_status(200);
    let updated = alice
        .api
        .get("/users/me/preferences/display_settings/name/name_format")
        .await
        .expect_status(200);
    assert_eq!(updated["value"], "username");

    // Missing ones: Mattermost's 404 for an empty category, 400 for a missing name.
    let empty_category = alice.api.get("/users/me/preferences/theme").await;
    assert_eq!(
        empty_category.expect_error(404),
        "api.preference.preferences_category.get.app_error"
    );
    let missing_name = alice
        .api
        .get("/users/me/preferences/display_settings/name/colorize_usernames")
        .await;
    assert_eq!(
        missing_name.expect_error(400),
        "app.preference.get.app_error"
    );

    let reply = alice
        .api
        .post(
            "/users/me/preferences/delete",
            preferences_of(&alice, &[("display_settings", "use_military_time", "")]),
        )
        .await;
    assert_eq!(reply.expect_status(200), json!({"status": "OK"}));
    let remaining = alice
        .api
        .get("/users/me/preferences")
        .await
        .expect_status(200);
    assert_eq!(
        entries(&remaining),
        owned(&[
            ("display_settings", "name_format", "username"),
            ("tutorial_step", alice.id.as_str(), "999"),
        ])
    );
}

#[tokio::test]
async fn only_the_user_and_system_admins_reach_a_users_preferences() {
    let server = Sandbox::start().await;
    let admin = server.signup("prefadmin").await;
    let alice = server.signup("alice").await;
    let bob = server.signup("bob").await;
    save(
        &alice,
        "me",
        preferences_of(&alice, &[("display_settings", "use_military_time", "true")]),
    )
    .await
    .expect_status(200);

    let alice_preferences = format!("/users/{}/preferences", alice.id);
    let forbidden = "api.context.permissions.app_error";
    assert_eq!(
        bob.api.get(&alice_preferences).await.expect_error(403),
        forbidden
    );
    assert_eq!(
        bob.api
            .get(&format!("{alice_preferences}/display_settings"))
            .await
            .expect_error(403),
        forbidden
    );
    assert_eq!(
        save(&bob, &alice.id, preferences_of(&alice, &[("c", "n", "v")]))
            .await
            .expect_error(403),
        forbidden
    );
    assert_eq!(
        bob.api
            .post(
                &format!("{alice_preferences}/delete"),
                preferences_of(&alice, &[("display_settings", "use_military_time", "")]),
            )
            .await
            .expect_error(403),
        forbidden
    );
    assert_eq!(
        bob.api
            .get(&format!("/users/{}/posts/flagged", alice.id))
            .await
            .expect_error(403),
        forbidden
    );
    // Bob's own URL, but preferences of alice in the body.
    assert_eq!(
        save(&bob, "me", preferences_of(&alice, &[("c", "n", "v")]))
            .await
            .expect_error(403),
        "api.preference.update_preferences.set.app_error"
    );
    assert_eq!(
        bob.api
            .post(
                "/users/me/preferences/delete",
                preferences_of(&alice, &[("display_settings", "use_military_time", "")]),
            )
            .await
            .expect_error(403),
        "api.preference.delete_preferences.delete.app_error"
    );

    // A system admin may read and write anyone's.
    let seen_by_admin = admin.api.get(&alice_preferences).await.expect_status(200);
    assert_eq!(
        entries(&seen_by_admin),
        owned(&[("display_settings", "use_military_time", "true")])
    );
    save(
        &admin,
        &alice.id,
        preferences_of(
            &alice,
            &[("display_settings", "name_format", "nickname_full_name")],
        ),
    )
    .await
    .expect_status(200);
    let still_there = alice
        .api
        .get("/users/me/preferences")
        .await
        .expect_status(200);
    assert_eq!(entries(&still_there).len(), 2);
}

#[tokio::test]
async fn invalid_preferences_are_refused_with_mattermost_ids_and_nothing_is_saved() {
    let server = Sandbox::start().await;
    let _admin = server.signup("prefadmin").await;
    let alice = server.signup("alice").await;

    let long_category = "c".repeat(33);
    let long_name = "n".repeat(33);
    let long_value = "v".repeat(20_001);
    let cases = [
        (
            long_category.as_str(),
            "name",
            "value",
            "model.preference.is_valid.category.app_error",
        ),
        (
            "",
            "name",
            "value",
            "model.preference.is_valid.category.app_error",
        ),
        (
            "display_settings",
            long_name.as_str(),
            "value",
            "model.preference.is_valid.name.app_error",
        ),
        (
            "display_settings",
            "name",
            long_value.as_str(),
            "model.preference.is_valid.value.app_error",
        ),
        (
            "theme",
            "",
            "not a theme",
            "model.preference.is_valid.theme.app_error",
        ),
        (
            "sidebar_settings",
            "limit_visible_dms_gms",
            "41",
            "model.preference.is_valid.limit_visible_dms_gms.app_error",
        ),
        // A saved post must exist.
        (
            "flagged_post",
            "abcdefghijklmnopqrstuvwxyz",
            "true",
            "api.context.invalid_param.app_error",
        ),
    ];
    for (category, name, value, expected_id) in cases {
        // A valid preference first: the request is all or nothing.
        let body = preferences_of(
            &alice,
            &[
                ("display_settings", "use_military_time", "true"),
                (category, name, value),
            ],
        );
        let reply = save(&alice, "me", body).await;
        assert_eq!(reply.expect_error(400), expected_id, "{category}/{name}");
    }
    let saved = alice
        .api
        .get("/users/me/preferences")
        .await
        .expect_status(200);
    assert_eq!(saved, json!([]), "a refused request saves nothing");

    let malformed = alice
        .api
        .put("/users/me/preferences", json!({"category": "not a list"}))
        .await;
    assert_eq!(
        malformed.expect_error(400),
        "api.context.invalid_body_param.app_error"
    );

    // Colours of a theme that are not colours are made white, as Mattermost does.
    save(
        &alice,
        "me",
        preferences_of(
            &alice,
            &[(
                "theme",
                "",
                r##"{"sidebarBg":"#145dbf","linkColor":"javascript:"}"##,
            )],
        ),
    )
    .await
    .expect_status(200);
    let theme = alice
        .api
        .get("/users/me/preferences/theme")
        .await
        .expect_status(200);
    let colours: Value = serde_json::from_str(theme[0]["value"].as_str().unwrap()).unwrap();
    assert_eq!(
        colours,
        json!({"sidebarBg": "#145dbf", "linkColor": "#ffffff"})
    );
}

#[tokio::test]
async fn a_change_reaches_the_users_other_sessions_and_nobody_else() {
    let server = Sandbox::start().await;
    let _admin = server.signup("prefadmin").await;
    let alice_phone = server.signup("alice").await;
    let alice_laptop = server.log_in_as("alice").await;
    let bob = server.signup("bob").await;
    let mut laptop_socket = EventSocket::connect(&server, &alice_laptop.token).await;
    let mut bob_socket = EventSocket::connect(&server, &bob.token).await;

    let changed = [("display_settings", "use_military_time", "true")];
    save(&alice_phone, "me", preferences_of(&alice_phone, &changed))
        .await
        .expect_status(200);
    let event = laptop_socket.wait_for("preferences_changed").await;
    assert_eq!(event["broadcast"]["user_id"], alice_phone.id.as_str());
    let sent: Value = serde_json::from_str(
        event["data"]["preferences"]
            .as_str()
            .expect("data.preferences is a JSON string, as Mattermost sends it"),
    )
    .unwrap();
    assert_eq!(entries(&sent), owned(&changed));

    alice_phone
        .api
        .post(
            "/users/me/preferences/delete",
            preferences_of(
                &alice_phone,
                &[("display_settings", "use_military_time", "")],
            ),
        )
        .await
        .expect_status(200);
    let deleted = laptop_socket.wait_for("preferences_deleted").await;
    let sent: Value =
        serde_json::from_str(deleted["data"]["preferences"].as_str().unwrap()).unwrap();
    assert_eq!(sent[0]["name"], "use_military_time");

    let bob_events = bob_socket.events_within(Duration::from_millis(300)).await;
    assert!(
        bob_events.iter().all(|event| !event["event"]
            .as_str()
            .unwrap_or_default()
            .starts_with("preferences_")),
        "another user's preferences are nobody else's business: {bob_events:?}"
    );
}

#[tokio::test]
async fn flagged_posts_are_listed_newest_first_in_channels_the_user_may_read() {
    let server = Sandbox::start().await;
    let admin = server.signup("prefadmin").await;
    let alice = server.signup("alice").await;
    let bob = server.signup("bob").await;
    let team = admin.create_team("flags", "O").await;
    let team_id = id_of(&team);
    admin.add_to_team(&team_id, &alice.id).await;
    admin.add_to_team(&team_id, &bob.id).await;
    let town_square = alice.channel_by_name(&team_id, "town-square").await;
    let town_square_id = id_of(&town_square);
    let first = id_of(&alice.post(&town_square_id, "first").await);
    let second = id_of(&alice.post(&town_square_id, "second").await);
    let secret_channel = bob.create_channel(&team_id, "secret", "P").await;
    let secret_channel_id = id_of(&secret_channel);
    bob.add_to_channel(&secret_channel_id, &alice.id).await;
    let secret = id_of(&bob.post(&secret_channel_id, "secret").await);
    let deleted = id_of(&alice.post(&town_square_id, "soon gone").await);

    let flags: Vec<(&str, &str, &str)> = [&first, &second, &secret, &deleted]
        .iter()
        .map(|post_id| ("flagged_post", post_id.as_str(), "true"))
        .collect();
    save(&alice, "me", preferences_of(&alice, &flags))
        .await
        .expect_status(200);
    alice
        .api
        .delete(&format!("/posts/{deleted}"))
        .await
        .expect_status(200);

    let order = |list: &Value| -> Vec<String> {
        list["order"]
            .as_array()
            .expect("a PostList")
            .iter()
            .map(|id| id.as_str().unwrap().to_string())
            .collect()
    };
    let all = alice
        .api
        .get("/users/me/posts/flagged")
        .await
        .expect_status(200);
    assert_eq!(order(&all), [secret.clone(), second.clone(), first.clone()]);
    assert_eq!(all["posts"][&first]["message"], "first");
    let page = alice
        .api
        .get("/users/me/posts/flagged?page=1&per_page=2")
        .await
        .expect_status(200);
    assert_eq!(order(&page), [first.clone()]);
    let in_channel = alice
        .api
        .get(&format!(
            "/users/me/posts/flagged?channel_id={town_square_id}"
        ))
        .await
        .expect_status(200);
    assert_eq!(order(&in_channel), [second.clone(), first.clone()]);
    let in_team = alice
        .api
        .get(&format!(
            "/users/{}/posts/flagged?team_id={team_id}",
            alice.id
        ))
        .await
        .expect_status(200);
    assert_eq!(order(&in_team).len(), 3);
    let elsewhere = alice
        .api
        .get(&format!(
            "/users/me/posts/flagged?team_id={}",
            "z".repeat(26)
        ))
        .await
        .expect_status(200);
    assert_eq!(order(&elsewhere), Vec::<String>::new());

    // Removed from the private channel, alice no longer sees its saved post.
    bob.api
        .delete(&format!(
            "/channels/{secret_channel_id}/members/{}",
            alice.id
        ))
        .await
        .expect_status(200);
    let after_removal = alice
        .api
        .get("/users/me/posts/flagged")
        .await
        .expect_status(200);
    assert_eq!(order(&after_removal), [second.clone(), first.clone()]);
    // ... and cannot save a post of a channel she may not read.
    let refused = save(
        &alice,
        "me",
        preferences_of(&alice, &[("flagged_post", secret.as_str(), "true")]),
    )
    .await;
    assert_eq!(
        refused.expect_error(403),
        "api.context.permissions.app_error"
    );
}

#[tokio::test]
async fn roles_and_the_client_license_answer_as_mattermost_does() {
    let server = Sandbox::start().await;
    let admin = server.signup("prefadmin").await;
    let alice = server.signup("alice").await;

    let license = server
        .anonymous()
        .get("/license/client?format=old")
        .await
        .expect_status(200);
    assert_eq!(license, json!({"IsLicensed": "false"}));

    let roles = alice
        .api
        .post(
            "/roles/names",
            json!([
                "system_user",
                "team_user",
                "channel_user",
                "",
                "no_such_role"
            ]),
        )
        .await
        .expect_status(200);
    let mut names: Vec<&str> = roles
        .as_array()
        .unwrap()
        .iter()
        .map(|role| role["name"].as_str().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["channel_user", "system_user", "team_user"]);
    let system_user = roles
        .as_array()
        .unwrap()
        .iter()
        .find(|role| role["name"] == "system_user")
        .unwrap()
        .clone();
    for field in [
        "id",
        "display_name",
        "description",
        "permissions",
        "scheme_managed",
        "built_in",
        "create_at",
    ] {
        assert!(
            system_user.get(field).is_some(),
            "{field} missing: {system_user}"
        );
    }
    assert!(system_user["permissions"]
        .as_array()
        .unwrap()
        .contains(&json!("create_direct_channel")));
    assert!(!system_user["permissions"]
        .as_array()
        .unwrap()
        .contains(&json!("manage_system")));

    let role_id = system_user["id"].as_str().unwrap();
    let by_id = alice
        .api
        .get(&format!("/roles/{role_id}"))
        .await
        .expect_status(200);
    assert_eq!(by_id, system_user);
    let by_name = alice
        .api
        .get("/roles/name/system_admin")
        .await
        .expect_status(200);
    assert!(by_name["permissions"]
        .as_array()
        .unwrap()
        .contains(&json!("manage_system")));

    assert_eq!(
        alice
            .api
            .get("/roles/name/no_such_role")
            .await
            .expect_error(404),
        "app.role.get_by_name.app_error"
    );
    assert_eq!(
        alice
            .api
            .get(&format!("/roles/{}", "z".repeat(26)))
            .await
            .expect_error(404),
        "app.role.get.app_error"
    );
    assert_eq!(
        alice
            .api
            .post("/roles/names", json!([]))
            .await
            .expect_error(400),
        "api.context.invalid_param.app_error"
    );
    assert_eq!(
        alice
            .api
            .post("/roles/names", json!(["Not-A-Role"]))
            .await
            .expect_error(400),
        "api.context.invalid_param.app_error"
    );
    assert_eq!(
        alice.api.get("/roles").await.expect_error(403),
        "api.context.permissions.app_error"
    );
    let all = admin.api.get("/roles").await.expect_status(200);
    assert!(all.as_array().unwrap().len() >= 9);
}
