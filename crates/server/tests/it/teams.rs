//! Teams: default channels, joining, invite-only privacy, leaving.

use serde_json::json;

use chorus_testkit::client::{id_of, ids_of};
use chorus_testkit::{Endpoint, Sandbox};

#[tokio::test]
async fn a_new_team_has_town_square_and_off_topic_with_its_creator_in_both() {
    let server = Sandbox::start().await;
    let alice = server.signup("alice").await;

    let team = alice.create_team("crew", "O").await;
    let team_id = id_of(&team);
    assert_eq!(team["name"], "crew");
    assert_eq!(team["type"], "O");

    assert_eq!(
        alice.my_channel_names(&team_id).await,
        vec!["off-topic", "town-square"]
    );
    for name in ["town-square", "off-topic"] {
        let channel = alice.channel_by_name(&team_id, name).await;
        assert_eq!(channel["type"], "O");
        assert_eq!(channel["team_id"], team_id.as_str());
        let membership = alice
            .api
            .get(&format!("/channels/{}/members/me", id_of(&channel)))
            .await
            .expect_status(200);
        assert_eq!(membership["user_id"], alice.id.as_str());
    }

    let my_teams = alice.api.get("/users/me/teams").await.expect_status(200);
    assert_eq!(ids_of(&my_teams), vec![team_id.clone()]);
    let by_name = alice.api.get("/teams/name/crew").await.expect_status(200);
    assert_eq!(by_name["id"], team_id.as_str());

    let duplicate = alice
        .api
        .post(
            "/teams",
            json!({"name": "crew", "display_name": "Again", "type": "O"}),
        )
        .await;
    duplicate.expect_error(400);
}

#[tokio::test]
async fn a_new_member_joins_the_default_channels_and_leaving_removes_them_from_every_channel() {
    let server = Sandbox::start().await;
    let alice = server.signup("alice").await;
    let bob = server.signup("bob").await;
    let team = alice.create_team("crew", "O").await;
    let team_id = id_of(&team);
    let general = alice.create_channel(&team_id, "general", "O").await;
    let general_id = id_of(&general);

    let member = alice.add_to_team(&team_id, &bob.id).await;
    assert_eq!(member["user_id"], bob.id.as_str());
    assert_eq!(
        bob.my_channel_names(&team_id).await,
        vec!["off-topic", "town-square"],
        "a new team member is in the default channels only"
    );
    bob.add_to_channel(&general_id, &bob.id).await;
    assert_eq!(
        bob.my_channel_names(&team_id).await,
        vec!["general", "off-topic", "town-square"]
    );
    let team_members = alice
        .api
        .get(&format!("/teams/{team_id}/members"))
        .await
        .expect_status(200);
    assert_eq!(team_members.as_array().unwrap().len(), 2);

    bob.api
        .delete(&format!("/teams/{team_id}/members/{}", bob.id))
        .await
        .expect_status(200);

    assert!(bob.my_channel_names(&team_id).await.is_empty());
    for channel_id in [
        general_id.clone(),
        id_of(&alice.channel_by_name(&team_id, "town-square").await),
    ] {
        let members = alice
            .api
            .get(&format!("/channels/{channel_id}/members"))
            .await
            .expect_status(200);
        let member_ids: Vec<&str> = members
            .as_array()
            .unwrap()
            .iter()
            .map(|member| member["user_id"].as_str().unwrap())
            .collect();
        assert_eq!(member_ids, vec![alice.id.as_str()]);
    }
    bob.api
        .post(
            "/posts",
            json!({"channel_id": general_id, "message": "still here?"}),
        )
        .await
        .expect_error(403);
    let bobs_teams = bob.api.get("/users/me/teams").await.expect_status(200);
    assert!(ids_of(&bobs_teams).is_empty());
}

#[tokio::test]
async fn outsiders_cannot_see_into_an_invite_only_team() {
    let server = Sandbox::start().await;
    let alice = server.signup("alice").await;
    let outsider = server.signup("mallory").await;
    let team = alice.create_team("inner-circle", "I").await;
    let team_id = id_of(&team);
    let town_square = alice.channel_by_name(&team_id, "town-square").await;
    let town_square_id = id_of(&town_square);
    alice.post(&town_square_id, "members only").await;

    outsider
        .api
        .get(&format!("/teams/{team_id}"))
        .await
        .expect_error(403);
    outsider
        .api
        .get(&format!("/teams/{team_id}/channels"))
        .await
        .expect_error(403);
    outsider
        .api
        .get(&format!("/channels/{town_square_id}"))
        .await
        .expect_error(403);
    outsider
        .api
        .get(&format!("/channels/{town_square_id}/posts"))
        .await
        .expect_error(403);
    outsider
        .api
        .post(
            &format!("/teams/{team_id}/members"),
            json!({"team_id": team_id, "user_id": outsider.id}),
        )
        .await
        .expect_error(403);
    let visible = outsider.api.get("/teams").await.expect_status(200);
    assert!(
        !ids_of(&visible).contains(&team_id),
        "an invite-only team is not listed to outsiders"
    );

    // An open team, by contrast, is joinable by anyone.
    let open = alice.create_team("lobby", "O").await;
    let open_id = id_of(&open);
    outsider
        .api
        .post(
            &format!("/teams/{open_id}/members"),
            json!({"team_id": open_id, "user_id": outsider.id}),
        )
        .await
        .expect_status(201);
}
