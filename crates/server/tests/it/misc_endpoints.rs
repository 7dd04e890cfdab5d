//! Issue 13 (misc): team and channel updates and lookups, members by ids, team member roles,
//! invite ids; sessions ended in bulk on every node; personal access tokens enabled and
//! disabled; failed login attempts reset; the schema version. Shapes, permissions (a plain user
//! refused where Mattermost refuses) and Mattermost's error ids for bad input.

use std::time::Duration;

use serde_json::{json, Value};

use chorus_testkit::client::{id_of, ids_of, TestUser};
use chorus_testkit::socket::EventSocket;
use chorus_testkit::{Endpoint, Sandbox};

/// An open team made by `admin` with `member` in it, and a public channel with both.
async fn team_with_member(admin: &TestUser, member: &TestUser, name: &str) -> (Value, Value) {
    let team = admin.create_team(name, "O").await;
    let team_id = id_of(&team);
    admin.add_to_team(&team_id, &member.id).await;
    let channel = admin
        .create_channel(&team_id, &format!("{name}-chat"), "O")
        .await;
    admin.add_to_channel(&id_of(&channel), &member.id).await;
    (team, channel)
}

#[tokio::test]
async fn teams_and_channels_are_updated_with_mattermosts_checks() {
    let server = Sandbox::start().await;
    let admin = server.signup("miscadmin").await;
    let alice = server.signup("alice").await;
    let (team, channel) = team_with_member(&admin, &alice, "updates").await;
    let (team_id, channel_id) = (id_of(&team), id_of(&channel));

    let mut changed = team.clone();
    changed["display_name"] = json!("Renamed Team");
    changed["description"] = json!("about us");
    let updated = admin
        .api
        .put(&format!("/teams/{team_id}"), changed.clone())
        .await
        .expect_status(200);
    assert_eq!(updated["display_name"], "Renamed Team");
    assert_eq!(updated["description"], "about us");
    assert_eq!(updated["name"], "updates");
    // A plain member may not edit the team; a body for another team is a bad request.
    let refused = alice
        .api
        .put(&format!("/teams/{team_id}"), changed.clone())
        .await;
    assert_eq!(
        refused.expect_error(403),
        "api.context.permissions.app_error"
    );
    let mut other = changed.clone();
    other["id"] = json!("a".repeat(26));
    let mismatch = admin.api.put(&format!("/teams/{team_id}"), other).await;
    assert_eq!(
        mismatch.expect_error(400),
        "api.context.invalid_param.app_error"
    );

    let mut channel_body = channel.clone();
    channel_body["header"] = json!("new header");
    channel_body["display_name"] = json!("Chat Room");
    let updated = alice
        .api
        .put(&format!("/channels/{channel_id}"), channel_body.clone())
        .await
        .expect_status(200);
    assert_eq!(updated["header"], "new header");
    assert_eq!(updated["display_name"], "Chat Room");
    channel_body["id"] = json!(team_id);
    let mismatch = alice
        .api
        .put(&format!("/channels/{channel_id}"), channel_body)
        .await;
    assert_eq!(
        mismatch.expect_error(400),
        "api.context.invalid_param.app_error"
    );
}

#[tokio::test]
async fn members_names_counts_and_invites_are_looked_up() {
    let server = Sandbox::start().await;
    let admin = server.signup("lookadmin").await;
    let alice = server.signup("alice").await;
    let bob = server.signup("bob").await;
    let (team, channel) = team_with_member(&admin, &alice, "lookups").await;
    let (team_id, channel_id) = (id_of(&team), id_of(&channel));

    // Members by ids: non-members are left out; an empty list is a bad request.
    let members = alice
        .api
        .post(
            &format!("/channels/{channel_id}/members/ids"),
            json!([alice.id, bob.id]),
        )
        .await
        .expect_status(200);
    assert_eq!(members.as_array().unwrap().len(), 1);
    assert_eq!(members[0]["user_id"], json!(alice.id));
    assert_eq!(members[0]["channel_id"], json!(channel_id));
    let empty = alice
        .api
        .post(&format!("/channels/{channel_id}/members/ids"), json!([]))
        .await;
    assert_eq!(
        empty.expect_error(400),
        "api.context.invalid_param.app_error"
    );
    let team_members = alice
        .api
        .post(
            &format!("/teams/{team_id}/members/ids"),
            json!([alice.id, admin.id, bob.id]),
        )
        .await
        .expect_status(200);
    let mut user_ids: Vec<&str> = team_members
        .as_array()
        .unwrap()
        .iter()
        .map(|member| member["user_id"].as_str().unwrap())
        .collect();
    user_ids.sort();
    let mut expected = vec![alice.id.as_str(), admin.id.as_str()];
    expected.sort();
    assert_eq!(user_ids, expected);
    // bob is not in the team.
    let refused = bob
        .api
        .post(&format!("/teams/{team_id}/members/ids"), json!([alice.id]))
        .await;
    assert_eq!(
        refused.expect_error(403),
        "api.context.permissions.app_error"
    );

    // A channel by team name and channel name; whether a team exists.
    let found = alice
        .api
        .get("/teams/name/lookups/channels/name/lookups-chat")
        .await
        .expect_status(200);
    assert_eq!(id_of(&found), channel_id);
    let missing = alice
        .api
        .get("/teams/name/lookups/channels/name/no-such-channel")
        .await;
    assert_eq!(
        missing.expect_error(404),
        "app.channel.get_by_name.missing.app_error"
    );
    let exists = bob
        .api
        .get("/teams/name/lookups/exists")
        .await
        .expect_status(200);
    assert_eq!(exists, json!({"exists": true}));
    let exists = bob
        .api
        .get("/teams/name/nosuchteam/exists")
        .await
        .expect_status(200);
    assert_eq!(exists, json!({"exists": false}));

    // Member counts: a channel the caller may not read makes it a 403.
    let counts = alice
        .api
        .post("/channels/stats/member_count", json!([channel_id]))
        .await
        .expect_status(200);
    assert_eq!(counts, json!({ channel_id.clone(): 2 }));
    let private = admin.create_channel(&team_id, "secret", "P").await;
    let refused = alice
        .api
        .post(
            "/channels/stats/member_count",
            json!([channel_id, id_of(&private)]),
        )
        .await;
    assert_eq!(
        refused.expect_error(403),
        "api.context.permissions.app_error"
    );
    let bad = alice
        .api
        .post("/channels/stats/member_count", json!(["x"]))
        .await;
    assert_eq!(bad.expect_error(400), "api.context.invalid_param.app_error");

    // Timezones: the distinct preferred ones of the members.
    alice
        .api
        .put(
            "/users/me/patch",
            json!({"timezone": {"useAutomaticTimezone": "false", "manualTimezone": "Europe/Paris", "automaticTimezone": ""}}),
        )
        .await
        .expect_status(200);
    let timezones = alice
        .api
        .get(&format!("/channels/{channel_id}/timezones"))
        .await
        .expect_status(200);
    assert!(
        timezones
            .as_array()
            .unwrap()
            .contains(&json!("Europe/Paris")),
        "{timezones}"
    );
    let refused = bob
        .api
        .get(&format!("/channels/{}/timezones", id_of(&private)))
        .await;
    assert_eq!(
        refused.expect_error(403),
        "api.context.permissions.app_error"
    );

    // Archived channels of the team.
    let archived = admin.create_channel(&team_id, "old-news", "O").await;
    admin
        .api
        .delete(&format!("/channels/{}", id_of(&archived)))
        .await
        .expect_status(200);
    let deleted = alice
        .api
        .get(&format!("/teams/{team_id}/channels/deleted"))
        .await
        .expect_status(200);
    assert_eq!(ids_of(&deleted), vec![id_of(&archived)]);
    let refused = bob
        .api
        .get(&format!("/teams/{team_id}/channels/deleted"))
        .await;
    assert_eq!(
        refused.expect_error(403),
        "api.context.permissions.app_error"
    );

    // A new invite id: the old one stops working.
    let old_invite = admin
        .api
        .get(&format!("/teams/{team_id}"))
        .await
        .expect_status(200)["invite_id"]
        .as_str()
        .unwrap()
        .to_string();
    let info = bob
        .api
        .get(&format!("/teams/invite/{old_invite}"))
        .await
        .expect_status(200);
    assert_eq!(
        info,
        json!({"id": team_id, "name": "lookups", "display_name": "Team lookups", "description": ""})
    );
    let refused = alice
        .api
        .post(&format!("/teams/{team_id}/regenerate_invite_id"), json!({}))
        .await;
    assert_eq!(
        refused.expect_error(403),
        "api.context.permissions.app_error"
    );
    let regenerated = admin
        .api
        .post(&format!("/teams/{team_id}/regenerate_invite_id"), json!({}))
        .await
        .expect_status(200);
    assert_ne!(regenerated["invite_id"], json!(old_invite));
    let gone = bob.api.get(&format!("/teams/invite/{old_invite}")).await;
    assert_eq!(
        gone.expect_error(404),
        "app.team.get_by_invite_id.finding.app_error"
    );
}

#[tokio::test]
async fn team_member_roles_change_with_memberrole_updated() {
    let server = Sandbox::start().await;
    let admin = server.signup("roleadmin").await;
    let alice = server.signup("alice").await;
    let (team, _) = team_with_member(&admin, &alice, "roles").await;
    let team_id = id_of(&team);
    let path = format!("/teams/{team_id}/members/{}/roles", alice.id);

    let refused = alice
        .api
        .put(&path, json!({"roles": "team_user team_admin"}))
        .await;
    assert_eq!(
        refused.expect_error(403),
        "api.context.permissions.app_error"
    );
    let bad = admin
        .api
        .put(&path, json!({"roles": "team_user system_admin"}))
        .await;
    assert_eq!(
        bad.expect_error(400),
        "api.channel.update_team_member_roles.scheme_role.app_error"
    );
    let missing = admin.api.put(&path, json!({})).await;
    assert_eq!(
        missing.expect_error(400),
        "api.context.invalid_param.app_error"
    );

    let mut socket = EventSocket::connect(&server, &alice.token).await;
    admin
        .api
        .put(&path, json!({"roles": "team_user team_admin"}))
        .await
        .expect_status(200);
    let event = socket.wait_for("memberrole_updated").await;
    let member: Value = serde_json::from_str(event["data"]["member"].as_str().unwrap()).unwrap();
    assert_eq!(member["user_id"], json!(alice.id));
    assert_eq!(member["scheme_admin"], true);
    let read = alice
        .api
        .get(&format!("/teams/{team_id}/members/{}", alice.id))
        .await
        .expect_status(200);
    assert_eq!(read["roles"], "team_user team_admin");
    // Now a team admin, alice may edit the team.
    let mut changed = team.clone();
    changed["display_name"] = json!("Alice's Team");
    alice
        .api
        .put(&format!("/teams/{team_id}"), changed)
        .await
        .expect_status(200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoking_all_sessions_ends_them_on_every_node() {
    let sandbox = Sandbox::builder().nodes(2).start().await;
    let (node0, node1) = (sandbox.node(0), sandbox.node(1));
    let admin = node0.signup("revokeadmin").await;
    let alice = node0.signup("alice").await;
    let bob = node0.signup("bob").await;
    let admin_on_node1 = node1.anonymous().with_token(&admin.token);
    crate::cluster::wait_until(Duration::from_secs(15), "two live nodes", || async {
        let status = admin_on_node1
            .get("/cluster/status")
            .await
            .expect_status(200);
        let nodes = status.as_array().cloned().unwrap_or_default();
        nodes.len() == 2 && nodes.iter().all(|node| node["alive"] == true)
    })
    .await;
    // Node 1 caches alice's session before it is revoked through node 0.
    let alice_on_node1 = node1.anonymous().with_token(&alice.token);
    alice_on_node1.get("/users/me").await.expect_status(200);

    let refused = bob
        .api
        .post(
            &format!("/users/{}/sessions/revoke/all", alice.id),
            json!({}),
        )
        .await;
    assert_eq!(
        refused.expect_error(403),
        "api.context.permissions.app_error"
    );
    admin
        .api
        .post(
            &format!("/users/{}/sessions/revoke/all", alice.id),
            json!({}),
        )
        .await
        .expect_status(200);
    // The invalidation travels to the other node as logout's does: within a second.
    crate::cluster::wait_until(
        Duration::from_secs(1),
        "node 1 refuses alice's token",
        || async { alice_on_node1.get("/users/me").await.status == 401 },
    )
    .await;
    let ended = alice_on_node1.get("/users/me").await;
    assert_eq!(
        ended.expect_error(401),
        "api.context.session_expired.app_error"
    );
    bob.api.get("/users/me").await.expect_status(200);

    // Everyone's sessions: admins only, and theirs end too.
    let refused = bob.api.post("/users/sessions/revoke/all", json!({})).await;
    assert_eq!(
        refused.expect_error(403),
        "api.context.permissions.app_error"
    );
    let bob_on_node1 = node1.anonymous().with_token(&bob.token);
    bob_on_node1.get("/users/me").await.expect_status(200);
    admin
        .api
        .post("/users/sessions/revoke/all", json!({}))
        .await
        .expect_status(200);
    crate::cluster::wait_until(
        Duration::from_secs(1),
        "node 1 refuses bob's token",
        || async { bob_on_node1.get("/users/me").await.status == 401 },
    )
    .await;
    admin.api.get("/users/me").await.expect_error(401);
}

#[tokio::test]
async fn access_tokens_are_listed_disabled_and_enabled_and_failed_attempts_reset() {
    let server = Sandbox::start().await;
    let admin = server.signup("tokenadmin").await;
    let alice = server.signup("alice").await;
    let token = admin
        .api
        .post(
            &format!("/users/{}/tokens", alice.id),
            json!({"description": "ci"}),
        )
        .await
        .expect_status(200);
    let (token_id, secret) = (id_of(&token), token["token"].as_str().unwrap().to_string());
    let with_token = server.anonymous().with_token(&secret);
    with_token.get("/users/me").await.expect_status(200);

    let all = admin.api.get("/users/tokens").await.expect_status(200);
    assert!(ids_of(&all).contains(&token_id));
    assert!(all
        .as_array()
        .unwrap()
        .iter()
        .all(|listed| listed["token"].as_str().unwrap_or("").is_empty()));
    let refused = alice.api.get("/users/tokens").await;
    assert_eq!(
        refused.expect_error(403),
        "api.context.permissions.app_error"
    );
    let one = admin
        .api
        .get(&format!("/users/tokens/{token_id}"))
        .await
        .expect_status(200);
    assert_eq!(one["user_id"], json!(alice.id));
    assert_eq!(one["description"], "ci");
    assert_eq!(one["is_active"], true);
    let unknown = admin
        .api
        .get(&format!("/users/tokens/{}", "b".repeat(26)))
        .await;
    assert_eq!(unknown.expect_error(404), "app.access_token.get.app_error");

    // Disabling ends the token's session; enabling lets it sign in again.
    let refused = alice
        .api
        .post("/users/tokens/disable", json!({"token_id": token_id}))
        .await;
    assert_eq!(
        refused.expect_error(403),
        "api.context.permissions.app_error"
    );
    let bad = admin.api.post("/users/tokens/disable", json!({})).await;
    bad.expect_error(400);
    admin
        .api
        .post("/users/tokens/disable", json!({"token_id": token_id}))
        .await
        .expect_status(200);
    with_token.get("/users/me").await.expect_error(401);
    let one = admin
        .api
        .get(&format!("/users/tokens/{token_id}"))
        .await
        .expect_status(200);
    assert_eq!(one["is_active"], false);
    admin
        .api
        .post("/users/tokens/enable", json!({"token_id": token_id}))
        .await
        .expect_status(200);
    with_token.get("/users/me").await.expect_status(200);

    // Failed login attempts: admins reset them.
    server
        .anonymous()
        .post(
            "/users/login",
            json!({"login_id": "alice", "password": "not-the-password-1"}),
        )
        .await
        .expect_error(401);
    let user = admin
        .api
        .get(&format!("/users/{}", alice.id))
        .await
        .expect_status(200);
    assert_eq!(user["failed_attempts"], 1);
    let path = format!("/users/{}/reset_failed_attempts", alice.id);
    let refused = alice.api.post(&path, json!({})).await;
    assert_eq!(
        refused.expect_error(403),
        "api.context.permissions.app_error"
    );
    admin.api.post(&path, json!({})).await.expect_status(200);
    let user = admin
        .api
        .get(&format!("/users/{}", alice.id))
        .await
        .expect_status(200);
    assert_eq!(user["failed_attempts"], 0);
    let unknown = admin
        .api
        .post(
            &format!("/users/{}/reset_failed_attempts", "c".repeat(26)),
            json!({}),
        )
        .await;
    assert_eq!(unknown.expect_error(404), "app.user.get.app_error");

    // The schema version: admins only.
    let versions = admin
        .api
        .get("/system/schema/version")
        .await
        .expect_status(200);
    assert_eq!(
        versions[0]["version"].as_i64(),
        versions
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|v| v["version"].as_i64())
            .max()
    );
    assert!(versions[0]["name"].is_string());
    let refused = alice.api.get("/system/schema/version").await;
    assert_eq!(
        refused.expect_error(403),
        "api.context.permissions.app_error"
    );
}

#[tokio::test]
async fn channels_are_marked_read_with_multiple_channels_viewed() {
    let server = Sandbox::start().await;
    let admin = server.signup("readadmin").await;
    let alice = server.signup("alice").await;
    let bob = server.signup("bob").await;
    let (team, channel) = team_with_member(&admin, &alice, "reading").await;
    let (team_id, channel_id) = (id_of(&team), id_of(&channel));
    admin.post(&channel_id, "unread for alice").await;
    let mut socket = EventSocket::connect(&server, &alice.token).await;

    let read = alice
        .api
        .post("/channels/members/me/mark_read", json!([channel_id]))
        .await
        .expect_status(200);
    assert_eq!(read["status"], "OK");
    assert!(read["last_viewed_at_times"][&channel_id].as_i64().unwrap() > 0);
    let event = socket.wait_for("multiple_channels_viewed").await;
    assert_eq!(
        event["data"]["channel_times"][&channel_id],
        read["last_viewed_at_times"][&channel_id]
    );
    let unread = alice
        .api
        .get(&format!("/users/me/channels/{channel_id}/unread"))
        .await
        .expect_status(200);
    assert_eq!(unread["msg_count"], 0);
    let bad = alice
        .api
        .post("/channels/members/me/mark_read", json!([]))
        .await;
    assert_eq!(bad.expect_error(400), "api.context.invalid_param.app_error");

    // Every channel of a team: the user or an admin.
    admin.post(&channel_id, "another").await;
    let read = alice
        .api
        .put(&format!("/users/me/teams/{team_id}/read"), json!({}))
        .await
        .expect_status(200);
    let times = read["last_viewed_at_times"].as_object().unwrap();
    assert!(times.contains_key(&channel_id), "{read}");
    assert_eq!(
        times.len(),
        3,
        "town-square, off-topic and the channel: {read}"
    );
    let refused = bob
        .api
        .put(
            &format!("/users/{}/teams/{team_id}/read", alice.id),
            json!({}),
        )
        .await;
    assert_eq!(
        refused.expect_error(403),
        "api.context.permissions.app_error"
    );

    // Direct and group channels.
    let direct = admin
        .api
        .post("/channels/direct", json!([admin.id, alice.id]))
        .await
        .expect_status(201);
    admin.post(&id_of(&direct), "hello alice").await;
    let read = alice
        .api
        .put("/channels/members/me/direct/read", json!({}))
        .await
        .expect_status(200);
    assert_eq!(
        read["last_viewed_at_times"]
            .as_object()
            .unwrap()
            .keys()
            .collect::<Vec<_>>(),
        vec![&id_of(&direct)]
    );
    let refused = bob
        .api
        .put(
            &format!("/channels/members/{}/direct/read", alice.id),
            json!({}),
        )
        .await;
    assert_eq!(
        refused.expect_error(403),
        "api.context.permissions.app_error"
    );
}

#[tokio::test]
async fn teams_channels_and_group_channels_are_searched() {
    let server = Sandbox::start().await;
    let admin = server.signup("searchadmin").await;
    let alice = server.signup("alice").await;
    let bob = server.signup("bob").await;
    let carol = server.signup("carol").await;
    let (team, channel) = team_with_member(&admin, &alice, "searching").await;
    let team_id = id_of(&team);
    let private = admin
        .create_channel(&team_id, "searching-private", "P")
        .await;
    admin.add_to_channel(&id_of(&private), &alice.id).await;
    let hidden = admin
        .create_channel(&team_id, "searching-hidden", "P")
        .await;
    let invite_only = admin.create_team("searchinvite", "I").await;

    // Teams: open ones and the caller's own; admins see all.
    let found = bob
        .api
        .post("/teams/search", json!({"term": "search"}))
        .await
        .expect_status(200);
    assert_eq!(ids_of(&found), vec![team_id.clone()]);
    let found = admin
        .api
        .post("/teams/search", json!({"term": "search"}))
        .await
        .expect_status(200);
    assert_eq!(found.as_array().unwrap().len(), 2);
    assert!(ids_of(&found).contains(&id_of(&invite_only)));
    let bad = bob.api.post("/teams/search", json!({})).await;
    assert_eq!(bad.expect_error(400), "api.context.invalid_param.app_error");

    // Channels of a team: search (public), autocomplete (and own private), for-search (own).
    let searched = alice
        .api
        .post(
            &format!("/teams/{team_id}/channels/search"),
            json!({"term": "chat"}),
        )
        .await
        .expect_status(200);
    assert_eq!(ids_of(&searched), vec![id_of(&channel)]);
    let mut completed = ids_of(
        &alice
            .api
            .get(&format!(
                "/teams/{team_id}/channels/autocomplete?name=searching"
            ))
            .await
            .expect_status(200),
    );
    completed.sort();
    let mut expected = vec![id_of(&channel), id_of(&private)];
    expected.sort();
    assert_eq!(
        completed,
        expected,
        "the hidden channel {} is not alice's",
        id_of(&hidden)
    );
    let own = alice
        .api
        .get(&format!(
            "/teams/{team_id}/channels/search_autocomplete?name=searching-p"
        ))
        .await
        .expect_status(200);
    assert_eq!(ids_of(&own), vec![id_of(&private)]);
    let refused = bob
        .api
        .get(&format!("/teams/{team_id}/channels/autocomplete?name=s"))
        .await;
    assert_eq!(
        refused.expect_error(403),
        "api.context.permissions.app_error"
    );

    // Group channels by a member's username; the teams their members share; known users.
    admin.add_to_team(&team_id, &carol.id).await;
    let group = alice
        .api
        .post("/channels/group", json!([alice.id, bob.id, carol.id]))
        .await
        .expect_status(201);
    let found = alice
        .api
        .post("/channels/group/search", json!({"term": "caro"}))
        .await
        .expect_status(200);
    assert_eq!(ids_of(&found), vec![id_of(&group)]);
    let members = alice
        .api
        .post("/users/group_channels", json!([id_of(&group)]))
        .await
        .expect_status(200);
    let mut member_ids = ids_of(&members[id_of(&group)]);
    member_ids.sort();
    let mut expected = vec![alice.id.clone(), bob.id.clone(), carol.id.clone()];
    expected.sort();
    assert_eq!(member_ids, expected);
    let refused = alice
        .api
        .post("/users/group_channels", json!([id_of(&hidden)]))
        .await;
    assert_eq!(
        refused.expect_error(403),
        "api.context.permissions.app_error"
    );
    let bad = alice.api.post("/users/group_channels", json!([])).await;
    assert_eq!(bad.expect_error(400), "api.context.invalid_param.app_error");
    let none = admin
        .api
        .post("/channels/group/search", json!({"term": "caro"}))
        .await
        .expect_status(200);
    assert_eq!(none, json!([]));
    let common = alice
        .api
        .get(&format!("/channels/{}/common_teams", id_of(&group)))
        .await
        .expect_status(200);
    assert_eq!(common, json!([]), "bob is in no team");
    admin.add_to_team(&team_id, &bob.id).await;
    let common = alice
        .api
        .get(&format!("/channels/{}/common_teams", id_of(&group)))
        .await
        .expect_status(200);
    assert_eq!(ids_of(&common), vec![team_id.clone()]);
    let wrong_type = alice
        .api
        .get(&format!("/channels/{}/common_teams", id_of(&channel)))
        .await;
    wrong_type.expect_error(400);
    let known = carol.api.get("/users/known").await.expect_status(200);
    let mut known: Vec<String> = serde_json::from_value(known).unwrap();
    known.sort();
    let mut expected = vec![admin.id.clone(), alice.id.clone(), bob.id.clone()];
    expected.sort();
    assert_eq!(known, expected, "town-square mates and the group channel");
}

#[tokio::test]
async fn all_channels_post_info_and_onboarding() {
    let server = Sandbox::start().await;
    let admin = server.signup("infoadmin").await;
    let alice = server.signup("alice").await;
    let bob = server.signup("bob").await;
    let (team, channel) = team_with_member(&admin, &alice, "infos").await;
    let team_id = id_of(&team);
    let private = admin.create_channel(&team_id, "infos-private", "P").await;

    // Every team's channels with their team's names, for admins.
    let all = admin
        .api
        .get("/channels?include_total_count=true&exclude_default_channels=true")
        .await
        .expect_status(200);
    let mut listed = ids_of(&all["channels"]);
    listed.sort();
    let mut expected = vec![id_of(&channel), id_of(&private)];
    expected.sort();
    assert_eq!(listed, expected);
    assert_eq!(all["total_count"], 2);
    assert_eq!(all["channels"][0]["team_name"], "infos");
    assert_eq!(all["channels"][0]["team_display_name"], "Team infos");
    assert!(all["channels"][0]["team_update_at"].as_i64().unwrap() > 0);
    let plain = admin
        .api
        .get("/channels?per_page=1")
        .await
        .expect_status(200);
    assert_eq!(plain.as_array().unwrap().len(), 1);
    let refused = alice.api.get("/channels").await;
    assert_eq!(
        refused.expect_error(403),
        "api.context.permissions.app_error"
    );
    let bad = admin.api.get("/channels?page=-1").await;
    bad.expect_error(400);

    // Where a post lives: for a member, for a non-member of an open team, and nobody else.
    let post = admin.post(&id_of(&channel), "where am I").await;
    let info = alice
        .api
        .get(&format!("/posts/{}/info", id_of(&post)))
        .await
        .expect_status(200);
    assert_eq!(
        info,
        json!({
            "channel_id": id_of(&channel), "channel_type": "O", "channel_display_name": channel["display_name"],
            "has_joined_channel": true, "team_id": team_id, "team_type": "O",
            "team_display_name": "Team infos", "has_joined_team": true
        })
    );
    let info = bob
        .api
        .get(&format!("/posts/{}/info", id_of(&post)))
        .await
        .expect_status(200);
    assert_eq!(info["has_joined_team"], false);
    assert_eq!(info["has_joined_channel"], false);
    let secret = admin.post(&id_of(&private), "secret").await;
    let hidden = alice
        .api
        .get(&format!("/posts/{}/info", id_of(&secret)))
        .await;
    assert_eq!(hidden.expect_error(404), "app.post.get.app_error");

    // The first admin's onboarding.
    let state = alice
        .api
        .get("/system/onboarding/complete")
        .await
        .expect_status(200);
    assert_eq!(
        state,
        json!({"name": "FirstAdminSetupComplete", "value": "false"})
    );
    let refused = alice
        .api
        .post(
            "/system/onboarding/complete",
            json!({"organization": "x", "install_plugins": []}),
        )
        .await;
    assert_eq!(
        refused.expect_error(403),
        "api.context.permissions.app_error"
    );
    admin
        .api
        .post(
            "/system/onboarding/complete",
            json!({"organization": "Acme", "install_plugins": []}),
        )
        .await
        .expect_status(200);
    let state = alice
        .api
        .get("/system/onboarding/complete")
        .await
        .expect_status(200);
    assert_eq!(state["value"], "true");

    // Settings from the environment: none in the sandbox; an object for admins and others.
    let environment = admin
        .api
        .get("/config/environment")
        .await
        .expect_status(200);
    assert!(environment.is_object());
    let environment = alice
        .api
        .get("/config/environment")
        .await
        .expect_status(200);
    assert_eq!(environment, json!({}));
}

#[tokio::test]
async fn a_post_marks_its_channel_unread_with_post_unread() {
    let server = Sandbox::start().await;
    let admin = server.signup("unreadadmin").await;
    let alice = server.signup("alice").await;
    let bob = server.signup("bob").await;
    let (_, channel) = team_with_member(&admin, &alice, "unreading").await;
    let channel_id = id_of(&channel);
    admin.post(&channel_id, "first").await;
    let from = admin.post(&channel_id, "@alice look").await;
    admin.post(&channel_id, "third").await;
    alice
        .api
        .post("/channels/members/me/mark_read", json!([channel_id]))
        .await
        .expect_status(200);
    let mut socket = EventSocket::connect(&server, &alice.token).await;

    let path = format!("/users/me/posts/{}/set_unread", id_of(&from));
    let unread = alice
        .api
        .post(&path, json!({"collapsed_threads_supported": true}))
        .await
        .expect_status(200);
    assert_eq!(unread["channel_id"], json!(channel_id));
    assert_eq!(unread["user_id"], json!(alice.id));
    assert_eq!(unread["mention_count"], 1);
    assert_eq!(
        unread["last_viewed_at"].as_i64().unwrap(),
        from["create_at"].as_i64().unwrap() - 1
    );
    let event = socket.wait_for("post_unread").await;
    assert_eq!(event["broadcast"]["channel_id"], json!(channel_id));
    assert_eq!(event["data"]["post_id"], json!(id_of(&from)));
    assert_eq!(event["data"]["mention_count"], 1);
    assert_eq!(event["data"]["msg_count"], unread["msg_count"]);
    let state = alice
        .api
        .get(&format!("/users/me/channels/{channel_id}/unread"))
        .await
        .expect_status(200);
    assert_eq!(state["msg_count"], 2, "the post and the one after it");
    assert_eq!(state["mention_count"], 1);

    let refused = bob
        .api
        .post(
            &format!("/users/me/posts/{}/set_unread", id_of(&from)),
            json!({}),
        )
        .await;
    assert_eq!(
        refused.expect_error(403),
        "api.context.permissions.app_error"
    );
    let refused = bob
        .api
        .post(
            &format!("/users/{}/posts/{}/set_unread", alice.id, id_of(&from)),
            json!({}),
        )
        .await;
    assert_eq!(
        refused.expect_error(403),
        "api.context.permissions.app_error"
    );
    let bad = alice
        .api
        .post("/users/me/posts/nonsense/set_unread", json!({}))
        .await;
    assert_eq!(bad.expect_error(400), "api.context.invalid_param.app_error");
}

/// `post_unread` and `memberrole_updated` cannot be rebuilt from the database: a client of a
/// node that died, whose user marked a post unread after the crash, gets a new connection (and
/// resyncs) instead of silently missing it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_post_marked_unread_after_a_node_died_makes_its_clients_resync() {
    use crate::cluster::{sign_up, wait_until};

    let sandbox = Sandbox::builder()
        .nodes(2)
        .processes(env!("CARGO_BIN_EXE_chorus"))
        .configure(|config| config.log_settings.console_level = "WARN".to_string())
        .start()
        .await;
    let (node_a, node_b) = (sandbox.node(0), sandbox.node(1));
    let (_admin_id, admin_token) = sign_up(&node_b.api(), "unread-admin").await;
    let (bob_id, bob_token) = sign_up(&node_b.api(), "unread-bob").await;
    let admin = node_b.api().with_token(&admin_token);
    let bob = node_b.api().with_token(&bob_token);
    let team_id = id_of(
        &admin
            .post(
                "/teams",
                json!({"name": "unread-team", "display_name": "Unread", "type": "O"}),
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
    wait_until(Duration::from_secs(15), "two live nodes", || async {
        let status = admin.get("/cluster/status").await.expect_status(200);
        let nodes = status.as_array().cloned().unwrap_or_default();
        nodes.len() == 2 && nodes.iter().all(|node| node["alive"] == true)
    })
    .await;

    let mut socket = EventSocket::connect_url(&node_a.websocket_url(), &bob_token).await;
    let socket_id = socket.connection_id();
    let post = admin
        .post(
            "/posts",
            json!({"channel_id": town_square, "message": "before the crash"}),
        )
        .await
        .expect_status(201);
    socket.wait_for("posted").await;
    let next_seq = socket.last_seq() + 1;
    drop(socket);
    tokio::time::sleep(Duration::from_millis(200)).await;
    node_a.kill();
    wait_until(Duration::from_secs(15), "node A seen dead", || async {
        let status = admin.get("/cluster/status").await.expect_status(200);
        status
            .as_array()
            .is_some_and(|nodes| nodes.iter().any(|node| node["alive"] == false))
    })
    .await;

    bob.post(
        &format!("/users/me/posts/{}/set_unread", id_of(&post)),
        json!({"collapsed_threads_supported": true}),
    )
    .await
    .expect_status(200);
    let renewed = EventSocket::connect_url(
        &format!(
            "{}?connection_id={socket_id}&sequence_number={next_seq}",
            node_b.websocket_url()
        ),
        &bob_token,
    )
    .await;
    assert_ne!(renewed.connection_id(), socket_id, "told to resync");
}

/// The System Console's lists: deactivated users (`inactive=true`), users by system role
/// (`role=system_admin`), and archived teams (`include_deleted`, for admins only).
#[tokio::test]
async fn admins_list_deactivated_users_admins_and_archived_teams() {
    let server = Sandbox::start().await;
    let admin = server.signup("listadmin").await;
    let alice = server.signup("alice").await;
    let bob = server.signup("bob").await;
    admin
        .api
        .delete(&format!("/users/{}", bob.id))
        .await
        .expect_status(200);
    let usernames = |users: Value| -> Vec<String> {
        users
            .as_array()
            .unwrap()
            .iter()
            .map(|user| user["username"].as_str().unwrap().to_string())
            .collect()
    };
    let inactive = admin
        .api
        .get("/users?inactive=true")
        .await
        .expect_status(200);
    assert_eq!(usernames(inactive), vec!["bob".to_string()]);
    let admins = admin
        .api
        .get("/users?role=system_admin")
        .await
        .expect_status(200);
    assert_eq!(usernames(admins), vec!["listadmin".to_string()]);
    let active = admin.api.get("/users?active=true").await.expect_status(200);
    assert_eq!(
        usernames(active),
        vec!["alice".to_string(), "listadmin".to_string()]
    );

    let team = admin.create_team("archived", "O").await;
    let team_id = id_of(&team);
    admin
        .api
        .delete(&format!("/teams/{team_id}"))
        .await
        .expect_status(200);
    let listed = |teams: Value| ids_of(&teams).contains(&team_id);
    assert!(!listed(admin.api.get("/teams").await.expect_status(200)));
    assert!(listed(
        admin
            .api
            .get("/teams?include_deleted=true")
            .await
            .expect_status(200)
    ));
    let search = json!({"term": "archived", "include_deleted": true});
    assert!(listed(
        admin
            .api
            .post("/teams/search", search.clone())
            .await
            .expect_status(200)
    ));
    assert!(!listed(
        admin
            .api
            .post("/teams/search", json!({"term": "archived"}))
            .await
            .expect_status(200)
    ));
    // Others never see archived teams, whatever they ask.
    assert!(!listed(
        alice
            .api
            .get("/teams?include_deleted=true")
            .await
            .expect_status(200)
    ));
    assert!(!listed(
        alice
            .api
            .post("/teams/search", search)
            .await
            .expect_status(200)
    ));
    server.stop().await;
}
