//! Posts: the life of a post, threads, the channel's post list windows, reactions, search,
//! idempotent retries and ordering under concurrency.

use std::collections::HashSet;

use serde_json::{json, Value};

use chorus_testkit::client::{id_of, TestUser};
use chorus_testkit::{Endpoint, Sandbox};

/// alice (server admin, team creator) and bob, both in team "crew".
async fn alice_and_bob_in_a_team(server: &Sandbox) -> (TestUser, TestUser, String) {
    let alice = server.signup("alice").await;
    let bob = server.signup("bob").await;
    let team_id = id_of(&alice.create_team("crew", "O").await);
    alice.add_to_team(&team_id, &bob.id).await;
    (alice, bob, team_id)
}

/// `order` of a PostList.
fn order_of(list: &Value) -> Vec<String> {
    list["order"]
        .as_array()
        .unwrap_or_else(|| panic!("not a PostList: {list}"))
        .iter()
        .map(|id| id.as_str().unwrap().to_string())
        .collect()
}

async fn channel_posts(user: &TestUser, channel_id: &str, query: &str) -> Value {
    user.api
        .get(&format!("/channels/{channel_id}/posts{query}"))
        .await
        .expect_status(200)
}

#[tokio::test]
async fn a_post_is_created_read_edited_and_deleted_by_its_author_only() {
    let server = Sandbox::start().await;
    // Neither alice nor bob is a system admin (admins may edit anything).
    server.create_account("admin").await;
    let (alice, bob, team_id) = alice_and_bob_in_a_team(&server).await;
    let channel_id = id_of(&alice.create_channel(&team_id, "notes", "P").await);

    bob.api
        .post(
            "/posts",
            json!({"channel_id": channel_id, "message": "let me in"}),
        )
        .await
        .expect_error(403);
    alice.add_to_channel(&channel_id, &bob.id).await;

    let created = alice
        .api
        .post(
            "/posts",
            json!({"channel_id": channel_id, "message": "first draft", "props": {"custom_flag": "false"}}),
        )
        .await
        .expect_status(201);
    let post_id = id_of(&created);
    assert_eq!(created["user_id"], alice.id.as_str());
    assert_eq!(created["channel_id"], channel_id.as_str());
    assert!(created["create_at"].as_i64().unwrap() > 0);
    assert_eq!(created["props"]["custom_flag"], "false");

    let read = bob
        .api
        .get(&format!("/posts/{post_id}"))
        .await
        .expect_status(200);
    assert_eq!(read["message"], "first draft");

    let patched = alice
        .api
        .put(
            &format!("/posts/{post_id}/patch"),
            json!({"message": "second draft"}),
        )
        .await
        .expect_status(200);
    assert_eq!(patched["message"], "second draft");
    assert!(patched["edit_at"].as_i64().unwrap() > 0);

    let updated = alice
        .api
        .put(
            &format!("/posts/{post_id}"),
            json!({"id": post_id, "channel_id": channel_id, "message": "final"}),
        )
        .await
        .expect_status(200);
    assert_eq!(updated["message"], "final");

    bob.api
        .put(
            &format!("/posts/{post_id}/patch"),
            json!({"message": "bob was here"}),
        )
        .await
        .expect_error(403);
    bob.api
        .delete(&format!("/posts/{post_id}"))
        .await
        .expect_error(403);
    let read = bob
        .api
        .get(&format!("/posts/{post_id}"))
        .await
        .expect_status(200);
    assert_eq!(read["message"], "final");

    let deleted = alice
        .api
        .delete(&format!("/posts/{post_id}"))
        .await
        .expect_status(200);
    assert_eq!(deleted["status"], "OK");
    alice
        .api
        .get(&format!("/posts/{post_id}"))
        .await
        .expect_error(404);
    let list = channel_posts(&alice, &channel_id, "").await;
    assert!(order_of(&list).is_empty(), "{list}");
    assert!(list["posts"].get(&post_id).is_none(), "{list}");
}

#[tokio::test]
async fn a_thread_holds_its_root_and_replies_and_counts_them() {
    let server = Sandbox::start().await;
    let (alice, bob, team_id) = alice_and_bob_in_a_team(&server).await;
    let channel_id = id_of(&alice.channel_by_name(&team_id, "town-square").await);

    let root = alice.post(&channel_id, "who is on call?").await;
    let root_id = id_of(&root);
    let first_reply = bob.reply(&channel_id, &root_id, "me").await;
    let second_reply = alice.reply(&channel_id, &root_id, "thanks").await;
    assert_eq!(first_reply["root_id"], root_id.as_str());

    let root_now = bob
        .api
        .get(&format!("/posts/{root_id}"))
        .await
        .expect_status(200);
    assert_eq!(root_now["reply_count"], 2, "{root_now}");

    let thread = bob
        .api
        .get(&format!("/posts/{}/thread", id_of(&first_reply)))
        .await
        .expect_status(200);
    let mut in_thread = order_of(&thread);
    in_thread.sort();
    let mut expected = vec![root_id.clone(), id_of(&first_reply), id_of(&second_reply)];
    expected.sort();
    assert_eq!(in_thread, expected);
    for post_id in &expected {
        assert!(thread["posts"].get(post_id).is_some(), "{thread}");
    }

    alice
        .api
        .post(
            "/posts",
            json!({"channel_id": channel_id, "root_id": chorus_model::new_id(), "message": "orphan"}),
        )
        .await
        .expect_error(400);

    bob.api
        .delete(&format!("/posts/{}", id_of(&first_reply)))
        .await
        .expect_status(200);
    let root_now = alice
        .api
        .get(&format!("/posts/{root_id}"))
        .await
        .expect_status(200);
    assert_eq!(root_now["reply_count"], 1, "{root_now}");
}

#[tokio::test]
async fn the_channel_post_list_pages_and_windows_around_a_post() {
    let server = Sandbox::start().await;
    let alice = server.signup("alice").await;
    let team_id = id_of(&alice.create_team("crew", "O").await);
    let channel_id = id_of(&alice.create_channel(&team_id, "log", "O").await);
    let mut posts = Vec::new();
    for number in 0..5 {
        posts.push(alice.post(&channel_id, &format!("entry {number}")).await);
    }
    let id = |number: usize| id_of(&posts[number]);

    // Newest first, page by page.
    let page = |number: usize| format!("?page={number}&per_page=2");
    assert_eq!(
        order_of(&channel_posts(&alice, &channel_id, &page(0)).await),
        vec![id(4), id(3)]
    );
    assert_eq!(
        order_of(&channel_posts(&alice, &channel_id, &page(1)).await),
        vec![id(2), id(1)]
    );
    assert_eq!(
        order_of(&channel_posts(&alice, &channel_id, &page(2)).await),
        vec![id(0)]
    );

    // Before a post: older posts, with the neighbours of the window.
    let before = channel_posts(
        &alice,
        &channel_id,
        &format!("?before={}&per_page=2", id(3)),
    )
    .await;
    assert_eq!(order_of(&before), vec![id(2), id(1)]);
    assert_eq!(before["next_post_id"], id(3).as_str(), "{before}");
    assert_eq!(before["prev_post_id"], id(0).as_str(), "{before}");

    let after = channel_posts(&alice, &channel_id, &format!("?after={}&per_page=2", id(1))).await;
    assert_eq!(order_of(&after), vec![id(3), id(2)]);
    assert_eq!(after["prev_post_id"], id(1).as_str(), "{after}");
    assert_eq!(after["next_post_id"], id(4).as_str(), "{after}");

    // Since: everything created, edited or deleted after a moment, deletions included.
    let since = posts[4]["create_at"].as_i64().unwrap();
    alice
        .api
        .put(
            &format!("/posts/{}/patch", id(1)),
            json!({"message": "entry 1 (corrected)"}),
        )
        .await
        .expect_status(200);
    alice
        .api
        .delete(&format!("/posts/{}", id(2)))
        .await
        .expect_status(200);
    let newest = alice.post(&channel_id, "entry 5").await;
    let changes = channel_posts(&alice, &channel_id, &format!("?since={since}")).await;
    let mut changed: Vec<String> = order_of(&changes);
    changed.sort();
    let mut expected = vec![id(1), id(2), id_of(&newest)];
    expected.sort();
    assert_eq!(changed, expected, "{changes}");
    assert_eq!(
        changes["posts"][id(1)]["message"],
        "entry 1 (corrected)",
        "{changes}"
    );
    assert!(
        changes["posts"][id(2)]["delete_at"].as_i64().unwrap() > 0,
        "a deleted post is reported as deleted: {changes}"
    );

    let after_deletion = channel_posts(&alice, &channel_id, "").await;
    assert_eq!(
        order_of(&after_deletion),
        vec![id_of(&newest), id(4), id(3), id(1), id(0)]
    );
}

#[tokio::test]
async fn reactions_are_added_listed_and_removed() {
    let server = Sandbox::start().await;
    let (alice, bob, team_id) = alice_and_bob_in_a_team(&server).await;
    let channel_id = id_of(&alice.channel_by_name(&team_id, "town-square").await);
    let post_id = id_of(&alice.post(&channel_id, "we shipped").await);

    let reaction = bob
        .api
        .post(
            "/reactions",
            json!({"user_id": bob.id, "post_id": post_id, "emoji_name": "tada"}),
        )
        .await
        .expect_status(200);
    assert_eq!(reaction["emoji_name"], "tada");
    bob.api
        .post(
            "/reactions",
            json!({"user_id": alice.id, "post_id": post_id, "emoji_name": "tada"}),
        )
        .await
        .expect_error(403);

    let reactions = alice
        .api
        .get(&format!("/posts/{post_id}/reactions"))
        .await
        .expect_status(200);
    let reactions = reactions.as_array().unwrap();
    assert_eq!(reactions.len(), 1);
    assert_eq!(reactions[0]["user_id"], bob.id.as_str());
    let post = alice
        .api
        .get(&format!("/posts/{post_id}"))
        .await
        .expect_status(200);
    assert_eq!(post["has_reactions"], true, "{post}");

    bob.api
        .delete(&format!("/users/me/posts/{post_id}/reactions/tada"))
        .await
        .expect_status(200);
    let reactions = alice
        .api
        .get(&format!("/posts/{post_id}/reactions"))
        .await
        .expect_status(200);
    assert_eq!(reactions, json!([]));
    let post = alice
        .api
        .get(&format!("/posts/{post_id}"))
        .await
        .expect_status(200);
    assert_ne!(post["has_reactions"], true, "{post}");
}

#[tokio::test]
async fn search_finds_words_phrases_authors_and_channels_but_never_others_private_posts() {
    let server = Sandbox::start().await;
    let (alice, bob, team_id) = alice_and_bob_in_a_team(&server).await;
    let town_square = id_of(&alice.channel_by_name(&team_id, "town-square").await);
    let off_topic = id_of(&alice.channel_by_name(&team_id, "off-topic").await);
    let secret = id_of(&alice.create_channel(&team_id, "secret", "P").await);

    let review = id_of(
        &alice
            .post(&town_square, "The quarterly budget review is tomorrow")
            .await,
    );
    let lunch = id_of(&bob.post(&off_topic, "budget lunch ideas anyone?").await);
    let hidden = id_of(&alice.post(&secret, "budget for the secret merger").await);

    let search = |user: &TestUser, terms: &str, is_or_search: bool| {
        let api = user.api.clone();
        let path = format!("/teams/{team_id}/posts/search");
        let body = json!({"terms": terms, "is_or_search": is_or_search});
        async move {
            let found = api.post(&path, body).await.expect_status(200);
            let mut ids = order_of(&found);
            ids.sort();
            ids
        }
    };
    let sorted = |mut ids: Vec<String>| {
        ids.sort();
        ids
    };

    assert_eq!(
        search(&bob, "budget", false).await,
        sorted(vec![review.clone(), lunch.clone()]),
        "bob must not find the post in alice's private channel"
    );
    assert_eq!(
        search(&alice, "budget", false).await,
        sorted(vec![review.clone(), lunch.clone(), hidden.clone()])
    );
    assert_eq!(search(&bob, "merger", false).await, Vec::<String>::new());
    assert_eq!(
        search(&bob, "budget review", false).await,
        vec![review.clone()]
    );
    assert_eq!(
        search(&bob, "review lunch", true).await,
        sorted(vec![review.clone(), lunch.clone()])
    );
    assert_eq!(
        search(&bob, "\"quarterly budget\"", false).await,
        vec![review.clone()]
    );
    assert_eq!(
        search(&bob, "\"budget quarterly\"", false).await,
        Vec::<String>::new(),
        "a quoted phrase matches the words in that order only"
    );
    assert_eq!(
        search(&bob, "budget from:bob", false).await,
        vec![lunch.clone()]
    );
    assert_eq!(
        search(&bob, "budget in:town-square", false).await,
        vec![review.clone()]
    );
    assert_eq!(
        search(&bob, "budget in:secret", false).await,
        Vec::<String>::new()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_post_retried_with_the_same_pending_post_id_is_stored_once() {
    let server = Sandbox::start().await;
    let alice = server.signup("alice").await;
    let team_id = id_of(&alice.create_team("crew", "O").await);
    let channel_id = id_of(&alice.create_channel(&team_id, "flaky-wifi", "O").await);
    let pending_post_id = format!("{}:{}", alice.id, chorus_model::now_millis());

    let mut retries = Vec::new();
    for _ in 0..10 {
        let api = alice.api.clone();
        let body = json!({
            "channel_id": channel_id,
            "message": "sent from a train",
            "pending_post_id": pending_post_id,
        });
        retries.push(tokio::spawn(async move { api.post("/posts", body).await }));
    }
    let mut answered_ids = HashSet::new();
    for retry in retries {
        let reply = retry.await.expect("retry task");
        assert!(
            reply.status == 201 || reply.status == 200,
            "a retried post must succeed: {reply:?}"
        );
        assert_eq!(reply.json["pending_post_id"], pending_post_id.as_str());
        answered_ids.insert(id_of(&reply.json));
    }
    assert_eq!(answered_ids.len(), 1, "every retry answers the same post");

    let list = channel_posts(&alice, &channel_id, "").await;
    assert_eq!(
        order_of(&list),
        answered_ids.into_iter().collect::<Vec<_>>(),
        "exactly one post is stored"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_posters_get_strictly_increasing_create_at() {
    const POSTERS: usize = 4;
    const POSTS_EACH: usize = 25;
    let server = Sandbox::start().await;
    let (alice, bob, team_id) = alice_and_bob_in_a_team(&server).await;
    let channel_id = id_of(&alice.channel_by_name(&team_id, "town-square").await);

    let mut posters = Vec::new();
    for poster in 0..POSTERS {
        let api = if poster % 2 == 0 {
            alice.api.clone()
        } else {
            bob.api.clone()
        };
        let channel_id = channel_id.clone();
        posters.push(tokio::spawn(async move {
            for number in 0..POSTS_EACH {
                api.post(
                    "/posts",
                    json!({"channel_id": channel_id, "message": format!("poster {poster} post {number}")}),
                )
                .await
                .expect_status(201);
            }
        }));
    }
    for poster in posters {
        poster.await.expect("poster task");
    }

    let list = channel_posts(&alice, &channel_id, "?per_page=200").await;
    let order = order_of(&list);
    assert_eq!(order.len(), POSTERS * POSTS_EACH);
    let create_ats: Vec<i64> = order
        .iter()
        .rev()
        .map(|post_id| list["posts"][post_id]["create_at"].as_i64().unwrap())
        .collect();
    for pair in create_ats.windows(2) {
        assert!(
            pair[0] < pair[1],
            "create_at must strictly increase within a channel: {} then {}",
            pair[0],
            pair[1]
        );
    }
}

/// Root posts of many channels arriving at once are written together, several in one
/// statement (`app::post_writer`). Each must still be stored once, a retry must answer with
/// the first post, every channel's `create_at` must increase in the order its posts were
/// sent, and a websocket must get every post once, each channel's in that order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn root_posts_of_many_channels_arriving_together_are_each_stored_once_and_in_order() {
    const CHANNELS: usize = 12;
    const POSTS_EACH: usize = 15;
    let server = Sandbox::builder()
        .configure(|config| config.metrics_settings.enable = true)
        .start()
        .await;
    let (alice, bob, team_id) = alice_and_bob_in_a_team(&server).await;
    let mut channel_ids = Vec::new();
    for number in 0..CHANNELS {
        let channel = alice
            .create_channel(&team_id, &format!("together-{number}"), "O")
            .await;
        let channel_id = id_of(&channel);
        alice.add_to_channel(&channel_id, &bob.id).await;
        channel_ids.push(channel_id);
    }
    let mut socket = chorus_testkit::socket::EventSocket::connect(&server, &bob.token).await;

    let mut posters = Vec::new();
    for (number, channel_id) in channel_ids.iter().enumerate() {
        let api = if number % 2 == 0 {
            alice.api.clone()
        } else {
            bob.api.clone()
        };
        let channel_id = channel_id.clone();
        posters.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            for post in 0..POSTS_EACH {
                let body = json!({
                    "channel_id": channel_id,
                    "message": format!("channel {number} post {post}"),
                    "pending_post_id": format!("{number}:{post}:{}", chorus_model::new_id()),
                });
                let first = api.post("/posts", body.clone());
                if post % 5 == 0 {
                    // A client retrying at once: both answers are the one post.
                    let (first, retry) = tokio::join!(first, api.post("/posts", body));
                    let (first, retry) = (first.expect_status(201), retry.expect_status(201));
                    assert_eq!(
                        first["id"], retry["id"],
                        "a retry answers with the first post"
                    );
                    ids.push(id_of(&first));
                } else {
                    ids.push(id_of(&first.await.expect_status(201)));
                }
            }
            ids
        }));
    }
    let mut sent: Vec<Vec<String>> = Vec::new();
    for poster in posters {
        sent.push(poster.await.expect("poster task"));
    }

    for (channel_id, ids) in channel_ids.iter().zip(&sent) {
        let list = channel_posts(&alice, channel_id, "?per_page=100").await;
        let mut stored = order_of(&list);
        stored.reverse();
        assert_eq!(
            &stored, ids,
            "each post stored once, in the order it was sent"
        );
        let create_ats: Vec<i64> = stored
            .iter()
            .map(|id| list["posts"][id]["create_at"].as_i64().unwrap())
            .collect();
        assert!(create_ats.windows(2).all(|pair| pair[0] < pair[1]));
    }
    let last_ids: HashSet<String> = sent.iter().map(|ids| ids[POSTS_EACH - 1].clone()).collect();
    let mut last_seen = HashSet::new();
    while last_seen.len() < CHANNELS {
        let event = socket.wait_for("posted").await;
        let id = chorus_testkit::socket::post_of(&event)["id"]
            .as_str()
            .unwrap()
            .to_string();
        if last_ids.contains(&id) {
            last_seen.insert(id);
        }
    }
    for (channel_id, ids) in channel_ids.iter().zip(&sent) {
        let got: Vec<String> = socket
            .history
            .iter()
            .filter(|event| event["event"] == "posted")
            .map(chorus_testkit::socket::post_of)
            .filter(|post| post["channel_id"] == channel_id.as_str())
            .map(|post| post["id"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(&got, ids, "the websocket gets each post once, in order");
    }

    let metrics = reqwest::get(server.node(0).metrics_url())
        .await
        .expect("the metrics endpoint")
        .text()
        .await
        .expect("metrics text");
    let batched = metrics
        .lines()
        .find(|line| line.starts_with("chorus_post_writes_total{statement=\"batched\"}"))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|value| value.parse::<f64>().ok())
        .unwrap_or(0.0);
    assert!(
        batched > 0.0,
        "posts arriving together were written in batches:\n{metrics}"
    );
}
