//! `startup`: how long the Mattermost mobile app takes to start against a populated cluster.
//!
//! The start-up is the part of the app's "entry" that blocks its first screen (mattermost-mobile
//! `fetchAppEntryData` and `fetchRoles`; tests/compat/js/startup.test.mjs replays the whole of
//! it with the official client and checks every answer):
//! 1. `GET /config/client?format=old` and `GET /license/client?format=old`, together;
//! 2. `GET /users/me/preferences`;
//! 3. together: `GET /users/me/teams`, `/users/me/teams/members`,
//!    `/users/me/teams/{team}/channels?include_deleted=true&last_delete_at=0`,
//!    `/users/me/teams/{team}/channels/members`, `/users/me/teams/{team}/channels/categories`
//!    and `/users/me`;
//! 4. `POST /roles/names`;
//! 5. `GET /users/me/teams/unread`.
//!
//! Setup, through NGINX in front of `--nodes` clustered nodes: the admin signs up; the other
//! `--users` − 1 users are copied from the admin's row in SQL with the role `system_user` (a
//! sign-up costs a deliberate ~0.3 s password hash each, and nothing in the start-up depends on
//! how a row was made); everyone joins the team, and each user `--channels-per-user` of the
//! `--channels` channels (through the API, so memberships, history and categories are what the
//! server itself writes); `--history` posts per channel; `--sessions` users log in.
//!
//! Phases: for each of `--concurrency`, that many simulated apps start one after another in a
//! closed loop for `--duration` seconds, each start as the next session in turn. Reported: starts
//! per second and the latency of a whole start (all five steps).

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use chorus_testkit::client::string_field;
use clap::Args;
use futures_util::{stream, StreamExt, TryStreamExt};
use reqwest::{Method, StatusCode};
use serde::Serialize;
use serde_json::json;

use crate::api::{http_client, Account, Api, PASSWORD};
use crate::pg::{self, StatementCost};
use crate::report::{first_errors, phase_tables, statements_table};
use crate::scenario::ClusterStack;
use crate::stats::{closed_loop, cpu_during, LoadResult, Window, OP_TIMEOUT};

/// Setup requests in flight at once through NGINX (none of them hashes a password).
const SETUP_CONCURRENCY: usize = 16;
/// Logins in flight at once (each is a ~0.3 s password hash on a node).
const LOGIN_CONCURRENCY: usize = 4;

#[derive(Args, Clone, Debug)]
pub struct StartupArgs {
    /// Clustered chorus nodes behind NGINX.
    #[arg(long, default_value_t = 3)]
    pub nodes: usize,
    /// Users in the database (the admin included).
    #[arg(long, default_value_t = 1000)]
    pub users: usize,
    /// Public channels in the team.
    #[arg(long, default_value_t = 200)]
    pub channels: usize,
    /// Channels each user is a member of (besides the team's default ones).
    #[arg(long, default_value_t = 10)]
    pub channels_per_user: usize,
    /// Posts in each channel.
    #[arg(long, default_value_t = 5)]
    pub history: usize,
    /// Users who log in and start the app in turn.
    #[arg(long, default_value_t = 60)]
    pub sessions: usize,
    /// Apps starting at once, one phase each.
    #[arg(long, value_delimiter = ',', default_value = "1,8,32")]
    pub concurrency: Vec<usize>,
    /// Measured seconds per phase.
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// Warm-up seconds before each measured window.
    #[arg(long, default_value_t = 2.0)]
    pub warmup: f64,
    /// Load pg_stat_statements and report the statements of the first phase, per start.
    #[arg(long)]
    pub statements: bool,
}

#[derive(Serialize)]
pub struct StartupReport {
    pub nodes: usize,
    pub users_in_database: i64,
    pub channels_in_database: i64,
    pub memberships_in_database: i64,
    pub setup_seconds: f64,
    pub phases: Vec<(String, LoadResult)>,
    /// With `--statements`: the first phase's statements, costliest first, per start.
    pub statements: Vec<StatementCost>,
}

impl StartupReport {
    pub fn text(&self) -> String {
        let phases: Vec<(String, &LoadResult)> = self
            .phases
            .iter()
            .map(|(name, result)| (name.clone(), result))
            .collect();
        format!(
            "startup: the mobile app's start-up (11 requests in 5 steps) through NGINX on {} nodes\n\
             database: {} users, {} channels, {} channel memberships (setup {:.0} s)\n\
             one operation = one whole start; ok/s = starts per second\n{}{}",
            self.nodes,
            self.users_in_database,
            self.channels_in_database,
            self.memberships_in_database,
            self.setup_seconds,
            phase_tables(&phases),
            first_errors(&phases),
        ) + &statements_table(
            "PostgreSQL statements of the first phase (per start)",
            &self.statements,
        )
    }
}

pub async fn run(chorus_binary: &Path, args: &StartupArgs) -> Result<StartupReport> {
    if args.nodes == 0 || args.users < 2 || args.channels == 0 || args.sessions == 0 {
        bail!("--nodes, --channels and --sessions must be at least 1, --users at least 2");
    }
    if args.sessions >= args.users || args.channels_per_user > args.channels {
        bail!("--sessions must be below --users and --channels-per-user at most --channels");
    }
    let stack = ClusterStack::start(chorus_binary, args.nodes, true, args.statements).await?;
    let result = measure(&stack, args).await;
    stack.stop().await;
    result
}

async fn measure(stack: &ClusterStack, args: &StartupArgs) -> Result<StartupReport> {
    let base = stack
        .nginx()
        .expect("the stack was started with NGINX")
        .base_url();
    let setup_started = std::time::Instant::now();
    let populated = populate(&base, &stack.database_url, args)
        .await
        .context("populating the database")?;
    let setup_seconds = setup_started.elapsed().as_secs_f64();
    let counts = pg::connect(&stack.database_url)
        .await?
        .query_one(
            "SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM channels), \
             (SELECT count(*) FROM channelmembers)",
            &[],
        )
        .await?;

    let window = Window {
        warmup: Duration::from_secs_f64(args.warmup),
        measure: Duration::from_secs_f64(args.duration),
    };
    let parties = stack.parties();
    let sessions = Arc::new(populated.sessions);
    let team_id = Arc::new(populated.team_id);
    let mut phases = Vec::new();
    let mut statements = Vec::new();
    for &concurrency in &args.concurrency {
        let first = phases.is_empty();
        if first && args.statements {
            pg::reset_statements(&stack.database_url).await?;
        }
        eprintln!("startup: {concurrency} apps starting at once");
        let next = Arc::new(AtomicUsize::new(0));
        let workers: Vec<_> = (0..concurrency.max(1))
            .map(|_| {
                let http = http_client(OP_TIMEOUT).expect("an HTTP client");
                let (base, sessions, team_id, next) = (
                    base.clone(),
                    sessions.clone(),
                    team_id.clone(),
                    next.clone(),
                );
                move || {
                    let turn = next.fetch_add(1, Ordering::Relaxed) % sessions.len();
                    let authorization = format!("Bearer {}", sessions[turn].token);
                    let (http, base, team_id) = (http.clone(), base.clone(), team_id.clone());
                    async move { start_app(&http, &base, &authorization, &team_id).await }
                }
            })
            .collect();
        let (result, cpu) =
            tokio::join!(closed_loop(workers, window), cpu_during(&parties, window));
        let mut result = result?;
        result.cpu = Some(cpu);
        if first && args.statements {
            statements = pg::top_statements(&stack.database_url, result.ok_total).await?;
        }
        phases.push((format!("{concurrency} apps at once"), result));
    }
    Ok(StartupReport {
        nodes: args.nodes,
        users_in_database: counts.get(0),
        channels_in_database: counts.get(1),
        memberships_in_database: counts.get(2),
        setup_seconds,
        phases,
        statements,
    })
}

/// One start of the app, as `authorization` ("Bearer …"): the five steps in order.
async fn start_app(
    http: &reqwest::Client,
    base: &str,
    authorization: &str,
    team_id: &str,
) -> Result<()> {
    let get = |path: String| {
        request(
            http,
            Method::GET,
            format!("{base}/api/v4{path}"),
            authorization,
            None,
        )
    };
    tokio::try_join!(
        get("/config/client?format=old".into()),
        get("/license/client?format=old".into())
    )?;
    get("/users/me/preferences".into()).await?;
    tokio::try_join!(
        get("/users/me/teams".into()),
        get("/users/me/teams/members".into()),
        get(format!(
            "/users/me/teams/{team_id}/channels?include_deleted=true&last_delete_at=0"
        )),
        get(format!("/users/me/teams/{team_id}/channels/members")),
        get(format!("/users/me/teams/{team_id}/channels/categories")),
        get("/users/me".into()),
    )?;
    request(
        http,
        Method::POST,
        format!("{base}/api/v4/roles/names"),
        authorization,
        Some(json!(["system_user", "team_user", "channel_user"]).to_string()),
    )
    .await?;
    get("/users/me/teams/unread".into()).await
}

/// One request that must answer 200; the whole body is read, so the connection is reused.
async fn request(
    http: &reqwest::Client,
    method: Method,
    url: String,
    authorization: &str,
    body: Option<String>,
) -> Result<()> {
    let mut builder = http
        .request(method, &url)
        .header(reqwest::header::AUTHORIZATION, authorization);
    if let Some(body) = body {
        builder = builder
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body);
    }
    let response = builder.send().await?;
    let status = response.status();
    let body = response.bytes().await?;
    if status != StatusCode::OK {
        bail!("{url}: {status}: {}", String::from_utf8_lossy(&body));
    }
    Ok(())
}

struct Populated {
    team_id: String,
    sessions: Vec<Account>,
}

/// The users, team, channels, memberships and posts of the module doc, and the sessions.
async fn populate(base: &str, database_url: &str, args: &StartupArgs) -> Result<Populated> {
    let api = Api::new(base.to_string())?;
    let admin = api.sign_up_and_log_in("bench0").await?;
    let database = pg::connect(database_url).await?;
    // Every column copied from the admin's row but the ones that must differ, so this stays
    // right whatever columns later migrations add.
    database
        .execute(
            "INSERT INTO users \
             SELECT (jsonb_populate_record(NULL::users, to_jsonb(u) || jsonb_build_object(\
                 'id', substr(md5('bench-user-' || n), 1, 26), 'username', 'bench' || n, \
                 'email', 'bench' || n || '@bench.test', 'roles', 'system_user'))).* \
             FROM users u, generate_series(1, $2::int) AS n WHERE u.id = $1",
            &[&admin.user_id, &((args.users - 1) as i32)],
        )
        .await
        .context("copying the admin's row into the other users")?;
    let user_ids: Vec<String> = database
        .query(
            "SELECT id FROM users WHERE username LIKE 'bench%' AND id <> $1 ORDER BY createat, username",
            &[&admin.user_id],
        )
        .await?
        .iter()
        .map(|row| row.get(0))
        .collect();

    let as_admin =
        chorus_testkit::client::Api::with_http(http_client(Duration::from_secs(60))?, base)
            .with_token(&admin.token);
    let team = as_admin
        .call(
            Method::POST,
            "/teams",
            json!({"name": "startup", "display_name": "Start-up", "type": "O"}),
        )
        .await?;
    let team_id = string_field(&team, "id")?;
    eprintln!("startup: {} users join the team", user_ids.len());
    stream::iter(&user_ids)
        .map(|user_id| {
            let (as_admin, team_id) = (&as_admin, &team_id);
            async move {
                let path = format!("/teams/{team_id}/members");
                let body = json!({"team_id": team_id, "user_id": user_id});
                as_admin.call(Method::POST, &path, body).await
            }
        })
        .buffer_unordered(SETUP_CONCURRENCY)
        .try_collect::<Vec<_>>()
        .await?;
    eprintln!("startup: {} channels", args.channels);
    let channel_ids: Vec<String> = stream::iter(0..args.channels)
        .map(|n| {
            let as_admin = &as_admin;
            let team_id = &team_id;
            async move {
                let channel = as_admin
                    .call(
                        Method::POST,
                        "/channels",
                        json!({"team_id": team_id, "name": format!("startup-{n}"),
                               "display_name": format!("Start-up {n}"), "type": "O"}),
                    )
                    .await?;
                string_field(&channel, "id")
            }
        })
        .buffered(SETUP_CONCURRENCY)
        .try_collect()
        .await?;
    let memberships: Vec<(&String, &String)> = user_ids
        .iter()
        .enumerate()
        .flat_map(|(n, user_id)| {
            let channel_ids = &channel_ids;
            (0..args.channels_per_user)
                .map(move |k| (&channel_ids[(n * 7 + k) % channel_ids.len()], user_id))
        })
        .collect();
    eprintln!("startup: {} channel memberships", memberships.len());
    stream::iter(memberships)
        .map(|(channel_id, user_id)| {
            let as_admin = &as_admin;
            async move {
                let path = format!("/channels/{channel_id}/members");
                let body = json!({"user_id": user_id});
                as_admin.call(Method::POST, &path, body).await
            }
        })
        .buffer_unordered(SETUP_CONCURRENCY)
        .try_collect::<Vec<_>>()
        .await?;
    eprintln!("startup: {} posts", args.history * channel_ids.len());
    let posts: Vec<(usize, &String)> = (0..args.history)
        .flat_map(|n| channel_ids.iter().map(move |channel_id| (n, channel_id)))
        .collect();
    stream::iter(posts)
        .map(|(n, channel_id)| {
            as_admin.call(
                Method::POST,
                "/posts",
                json!({"channel_id": channel_id, "message": format!("history {n}")}),
            )
        })
        .buffer_unordered(SETUP_CONCURRENCY)
        .try_collect::<Vec<_>>()
        .await?;
    eprintln!("startup: {} sessions log in", args.sessions);
    let sessions: Vec<Account> = stream::iter(0..args.sessions)
        .map(|n| {
            let login = chorus_testkit::client::Api::with_http(
                http_client(Duration::from_secs(60)).expect("an HTTP client"),
                base,
            );
            // spread over the users, so sessions see different channels
            let username = format!("bench{}", 1 + n * (args.users - 1) / args.sessions);
            async move { login.log_in(&username, PASSWORD).await }
        })
        .buffer_unordered(LOGIN_CONCURRENCY)
        .try_collect()
        .await?;
    Ok(Populated { team_id, sessions })
}
