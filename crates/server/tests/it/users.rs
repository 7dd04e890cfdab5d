//! Users: sign-up, login (header, cookies, CSRF), logout, lookups, profile, passwords, personal
//! access tokens and the defences against password guessing.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::json;

use chorus_testkit::client::{id_of, ids_of, PASSWORD};
use chorus_testkit::{Endpoint, Sandbox};

#[tokio::test]
async fn the_first_signup_is_system_admin_and_users_log_in_by_username_or_email() {
    let server = Sandbox::start().await;
    let alice = server.signup("alice").await;
    let bob = server.signup("bob").await;

    let alice_me = alice.api.get("/users/me").await.expect_status(200);
    assert_eq!(alice_me["username"], "alice");
    assert!(
        alice_me["roles"]
            .as_str()
            .unwrap()
            .split(' ')
            .any(|role| role == "system_admin"),
        "the first user must be a system admin: {alice_me}"
    );
    let bob_me = bob.api.get("/users/me").await.expect_status(200);
    assert_eq!(bob_me["roles"], "system_user");
    assert!(
        bob_me.get("password").is_none(),
        "no password (hash) may leave the server: {bob_me}"
    );

    // bob logged in by username in signup(); now by email, in other letter case.
    let by_email = server.login("Bob@Example.com", PASSWORD).await;
    assert_eq!(by_email.expect_status(200)["id"], bob.id.as_str());
    let email_token = by_email.header("token").expect("a Token header");
    assert_ne!(email_token, bob.token, "every login is a new session");
    let me = server
        .anonymous()
        .with_token(email_token)
        .get("/users/me")
        .await;
    assert_eq!(me.expect_status(200)["id"], bob.id.as_str());
}

#[tokio::test]
async fn a_wrong_password_is_refused_with_a_mattermost_error() {
    let server = Sandbox::start().await;
    server.create_account("alice").await;

    let refused = server.login("alice", "not-the-password").await;
    let error_id = refused.expect_error(401);
    assert_eq!(
        error_id,
        "api.user.login.invalid_credentials_email_username"
    );
    assert!(refused.header("token").is_none());
    assert!(refused.cookie("MMAUTHTOKEN").is_none());

    let unknown_user = server.login("nobody", "whatever-password").await;
    assert_eq!(unknown_user.expect_error(401), error_id);

    let no_token = server.anonymous().get("/users/me").await;
    no_token.expect_error(401);
}

#[tokio::test]
async fn with_open_server_off_only_the_first_user_and_admins_create_accounts() {
    let server = Sandbox::builder()
        .configure(|config| config.team_settings.enable_open_server = false)
        .start()
        .await;
    let admin = server.signup("admin").await;

    let refused = server
        .anonymous()
        .post(
            "/users",
            json!({"username": "walkin", "email": "walkin@example.com", "password": PASSWORD}),
        )
        .await;
    assert_eq!(
        refused.expect_error(403),
        "api.user.create_user.no_open_server"
    );

    let created_by_admin = admin
        .api
        .post(
            "/users",
            json!({"username": "invited", "email": "invited@example.com", "password": PASSWORD}),
        )
        .await
        .expect_status(201);
    assert_eq!(created_by_admin["roles"], "system_user");
}

#[tokio::test]
async fn login_sets_the_session_cookies_and_cookie_writes_need_the_csrf_token() {
    let server = Sandbox::start().await;
    let alice = server.signup("alice").await;
    let login = &alice.login_reply;

    let cookies = login.cookies();
    let (_, auth_cookie, auth_attributes) = cookies
        .iter()
        .find(|(name, _, _)| name == "MMAUTHTOKEN")
        .expect("an MMAUTHTOKEN cookie");
    assert_eq!(auth_cookie, &alice.token);
    assert!(
        auth_attributes.to_lowercase().contains("httponly"),
        "MMAUTHTOKEN must be HttpOnly: {auth_attributes}"
    );
    assert_eq!(login.cookie("MMUSERID").as_deref(), Some(alice.id.as_str()));
    let csrf = login.cookie("MMCSRF").expect("an MMCSRF cookie");
    assert!(!csrf.is_empty());

    let cookie_header = format!(
        "MMAUTHTOKEN={}; MMUSERID={}; MMCSRF={csrf}",
        alice.token, alice.id
    );
    let anonymous = server.anonymous();
    let read = anonymous
        .send(
            anonymous
                .request(Method::GET, "/users/me")
                .header("cookie", &cookie_header),
        )
        .await;
    assert_eq!(read.expect_status(200)["id"], alice.id.as_str());

    let cookie_request = |method: Method, path: &str| {
        anonymous
            .request(method, path)
            .header("cookie", &cookie_header)
    };
    let lookup = json!([alice.id]);
    let post_without_csrf = anonymous
        .send(cookie_request(Method::POST, "/users/ids").json(&lookup))
        .await;
    post_without_csrf.expect_error(401);
    let post_with_wrong_csrf = anonymous
        .send(
            cookie_request(Method::POST, "/users/ids")
                .header("x-csrf-token", "not-the-csrf-token")
                .json(&lookup),
        )
        .await;
    post_with_wrong_csrf.expect_error(401);
    let post_with_csrf = anonymous
        .send(
            cookie_request(Method::POST, "/users/ids")
                .header("x-csrf-token", &csrf)
                .json(&lookup),
        )
        .await;
    assert_eq!(
        ids_of(&post_with_csrf.expect_status(200)),
        vec![alice.id.clone()]
    );

    let forged_write = anonymous
        .send(cookie_request(Method::PUT, "/users/me/patch").json(&json!({"nickname": "forged"})))
        .await;
    forged_write.expect_error(401);
    let me = alice.api.get("/users/me").await.expect_status(200);
    assert_eq!(
        me["nickname"], "",
        "the write without CSRF token must not apply"
    );
    let genuine_write = anonymous
        .send(
            cookie_request(Method::PUT, "/users/me/patch")
                .header("x-csrf-token", &csrf)
                .json(&json!({"nickname": "genuine"})),
        )
        .await;
    assert_eq!(genuine_write.expect_status(200)["nickname"], "genuine");
}

#[tokio::test]
async fn logout_ends_the_session_and_only_that_session() {
    let server = Sandbox::start().await;
    let laptop = server.signup("alice").await;
    let phone = server.log_in_as("alice").await;

    let logout = laptop
        .api
        .post("/users/logout", json!({}))
        .await
        .expect_status(200);
    assert_eq!(logout["status"], "OK");

    laptop.api.get("/users/me").await.expect_error(401);
    phone.api.get("/users/me").await.expect_status(200);
}

#[tokio::test]
async fn users_are_found_by_id_username_email_and_channel() {
    let server = Sandbox::start().await;
    let alice = server.signup("alice").await;
    let bob = server.signup("bob").await;
    let team = alice.create_team("crew", "O").await;
    let team_id = id_of(&team);
    alice.add_to_team(&team_id, &bob.id).await;
    let private = alice.create_channel(&team_id, "secret", "P").await;
    let private_id = id_of(&private);

    let by_id = bob
        .api
        .get(&format!("/users/{}", alice.id))
        .await
        .expect_status(200);
    assert_eq!(by_id["username"], "alice");
    let by_username = bob
        .api
        .get("/users/username/alice")
        .await
        .expect_status(200);
    assert_eq!(by_username["id"], alice.id.as_str());
    let by_email = bob
        .api
        .get("/users/email/alice@example.com")
        .await
        .expect_status(200);
    assert_eq!(by_email["id"], alice.id.as_str());
    bob.api
        .get("/users/username/nobody")
        .await
        .expect_error(404);

    let missing_id = chorus_model::new_id();
    let mut by_ids = ids_of(
        &bob.api
            .post("/users/ids", json!([alice.id, bob.id, missing_id]))
            .await
            .expect_status(200),
    );
    by_ids.sort();
    let mut expected = vec![alice.id.clone(), bob.id.clone()];
    expected.sort();
    assert_eq!(by_ids, expected);

    let by_usernames = bob
        .api
        .post("/users/usernames", json!(["bob", "nobody"]))
        .await
        .expect_status(200);
    assert_eq!(ids_of(&by_usernames), vec![bob.id.clone()]);

    let in_channel = alice
        .api
        .get(&format!("/users?in_channel={private_id}"))
        .await
        .expect_status(200);
    assert_eq!(ids_of(&in_channel), vec![alice.id.clone()]);
    alice.add_to_channel(&private_id, &bob.id).await;
    let mut now_in_channel = ids_of(
        &alice
            .api
            .get(&format!("/users?in_channel={private_id}"))
            .await
            .expect_status(200),
    );
    now_in_channel.sort();
    assert_eq!(now_in_channel, expected);
}

#[tokio::test]
async fn a_user_patches_their_profile_and_bad_values_change_nothing() {
    let server = Sandbox::start().await;
    let alice = server.signup("alice").await;
    let bob = server.signup("bob").await;

    let patched = alice
        .api
        .put(
            "/users/me/patch",
            json!({"nickname": "Al", "first_name": "Alice", "position": "lead"}),
        )
        .await
        .expect_status(200);
    assert_eq!(patched["nickname"], "Al");
    assert_eq!(patched["first_name"], "Alice");
    assert_eq!(patched["username"], "alice", "fields not given stay");

    let seen_by_bob = bob
        .api
        .get(&format!("/users/{}", alice.id))
        .await
        .expect_status(200);
    assert_eq!(seen_by_bob["position"], "lead");

    // A refused patch leaves the profile as it was: no partial update.
    let too_long_nickname = "n".repeat(65);
    alice
        .api
        .put(
            "/users/me/patch",
            json!({"nickname": too_long_nickname, "first_name": "Changed"}),
        )
        .await
        .expect_error(400);
    alice
        .api
        .put("/users/me/patch", json!({"locale": "not-a-locale"}))
        .await
        .expect_error(400);
    let me = alice.api.get("/users/me").await.expect_status(200);
    assert_eq!(me["nickname"], "Al");
    assert_eq!(me["first_name"], "Alice");
    assert_eq!(me["locale"], "en");

    let taken = alice
        .api
        .put("/users/me/patch", json!({"username": "bob"}))
        .await;
    taken.expect_error(400);

    // Others' profiles are not theirs to change.
    bob.api
        .put(
            &format!("/users/{}/patch", alice.id),
            json!({"nickname": "hacked"}),
        )
        .await
        .expect_error(403);
}

#[tokio::test]
async fn changing_the_password_signs_out_other_sessions_but_keeps_this_one() {
    let server = Sandbox::start().await;
    let at_desk = server.signup("alice").await;
    let on_phone = server.log_in_as("alice").await;

    at_desk
        .api
        .put(
            "/users/me/password",
            json!({"current_password": "wrong-current", "new_password": "a-new-password"}),
        )
        .await
        .expect_error(400);
    on_phone.api.get("/users/me").await.expect_status(200);

    let changed = at_desk
        .api
        .put(
            "/users/me/password",
            json!({"current_password": PASSWORD, "new_password": "a-new-password"}),
        )
        .await
        .expect_status(200);
    assert_eq!(changed["status"], "OK");

    at_desk.api.get("/users/me").await.expect_status(200);
    on_phone.api.get("/users/me").await.expect_error(401);
    server.login("alice", PASSWORD).await.expect_error(401);
    server
        .login("alice", "a-new-password")
        .await
        .expect_status(200);
}

#[tokio::test]
async fn a_bot_works_with_a_personal_access_token_until_it_is_revoked() {
    let server = Sandbox::start().await;
    let admin = server.signup("admin").await;
    let bot_account = server.create_account("deploy-bot").await;
    let bot_id = id_of(&bot_account);

    let token = admin
        .api
        .post(
            &format!("/users/{bot_id}/tokens"),
            json!({"description": "ci pipeline"}),
        )
        .await
        .expect_status(200);
    let secret = token["token"]
        .as_str()
        .expect("the token's secret")
        .to_string();
    let token_id = id_of(&token);
    assert_eq!(token["user_id"], bot_id.as_str());

    let bot = server.anonymous().with_token(&secret);
    let me = bot.get("/users/me").await.expect_status(200);
    assert_eq!(me["username"], "deploy-bot");
    let team = admin.create_team("ops", "O").await;
    let team_id = id_of(&team);
    admin.add_to_team(&team_id, &bot_id).await;
    let town_square = admin.channel_by_name(&team_id, "town-square").await;
    let bot_post = bot
        .post(
            "/posts",
            json!({"channel_id": id_of(&town_square), "message": "deployed"}),
        )
        .await
        .expect_status(201);
    assert_eq!(bot_post["user_id"], bot_id.as_str());

    let listed = admin
        .api
        .get(&format!("/users/{bot_id}/tokens"))
        .await
        .expect_status(200);
    assert_eq!(ids_of(&listed), vec![token_id.clone()]);
    assert!(
        listed[0].get("token").is_none(),
        "a listed token must not reveal its secret: {listed}"
    );

    admin
        .api
        .post("/users/tokens/revoke", json!({"token_id": token_id}))
        .await
        .expect_status(200);
    bot.get("/users/me").await.expect_error(401);
}

#[tokio::test]
async fn repeated_failed_logins_are_slowed_down_and_lock_the_account() {
    let server = Sandbox::builder()
        .configure(|config| config.service_settings.maximum_login_attempts = 3)
        .start()
        .await;
    server.create_account("alice").await;

    // Guessing at an account that does not exist costs a hash like a wrong password (so timing
    // does not tell which usernames exist), and the throttle slows repeated guesses down.
    let started = Instant::now();
    server
        .login("ghost", "guess-number-0")
        .await
        .expect_error(401);
    let first_guess = started.elapsed();
    for attempt in 1..=3 {
        server
            .login("ghost", &format!("guess-number-{attempt}"))
            .await
            .expect_error(401);
    }
    let started = Instant::now();
    server
        .login("ghost", "guess-number-4")
        .await
        .expect_error(401);
    let fifth_guess = started.elapsed();
    assert!(
        fifth_guess >= Duration::from_millis(900),
        "the fifth failed login in a row must be slowed down, took {fifth_guess:?}"
    );
    assert!(
        first_guess < fifth_guess,
        "a first attempt ({first_guess:?}) must not be throttled like the fifth ({fifth_guess:?})"
    );

    for attempt in 0..3 {
        server
            .login("alice", &format!("wrong-password-{attempt}"))
            .await
            .expect_error(401);
    }
    let locked = server.login("alice", PASSWORD).await;
    assert_eq!(
        locked.expect_error(401),
        "api.user.check_user_login_attempts.too_many.app_error",
        "after MaximumLoginAttempts failures even the right password is refused"
    );
}
