//! Route table of /api/v4, by resource.

pub(crate) mod channel_settings;
pub(crate) mod channels;
pub(crate) mod emoji;
pub(crate) mod files;
pub(crate) mod integrations;
pub(crate) mod jobs;
pub(crate) mod lookups;
pub(crate) mod operators;
pub(crate) mod people;
pub(crate) mod post_lookups;
pub(crate) mod posts;
pub(crate) mod preferences;
pub(crate) mod roles;
pub(crate) mod sidebar;
pub(crate) mod system;
pub(crate) mod team_settings;
pub(crate) mod teams;
pub(crate) mod threads;
pub(crate) mod users;
pub(crate) mod websocket;

use axum::extract::DefaultBodyLimit;
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use chorus_app::App;
use serde_json::{json, Value};

pub(crate) fn api_v4() -> Router<App> {
    Router::new()
        // users
        .route("/users", post(users::create).get(users::list))
        .route("/users/login", post(users::login))
        .route("/users/logout", post(users::logout))
        .route("/users/ids", post(users::by_ids))
        .route("/users/usernames", post(users::by_usernames))
        .route("/users/username/{username}", get(users::by_username))
        .route("/users/email/{email}", get(users::by_email))
        .route("/users/status/ids", post(users::statuses_by_ids))
        .route("/users/tokens/revoke", post(users::revoke_token))
        .route(
            "/users/{user_id}",
            get(users::get)
                .put(users::update)
                .delete(people::deactivate),
        )
        .route("/users/{user_id}/patch", put(users::patch))
        .route("/users/{user_id}/password", put(users::password))
        .route("/users/{user_id}/roles", put(users::roles))
        .route(
            "/users/{user_id}/tokens",
            post(users::create_token).get(users::list_tokens),
        )
        .route("/users/{user_id}/sessions", get(users::sessions))
        .route(
            "/users/{user_id}/sessions/revoke",
            post(users::revoke_session),
        )
        .route(
            "/users/{user_id}/status",
            get(users::status).put(users::set_status),
        )
        .route("/users/{user_id}/teams", get(teams::for_user))
        .route(
            "/users/{user_id}/teams/members",
            get(teams::members_for_user),
        )
        .route(
            "/users/{user_id}/teams/{team_id}/channels",
            get(channels::for_user_in_team),
        )
        .route(
            "/users/{user_id}/teams/{team_id}/channels/members",
            get(channels::members_for_user_in_team),
        )
        .route(
            "/users/{user_id}/channels/{channel_id}/unread",
            get(channels::unread),
        )
        .route(
            "/users/{user_id}/preferences",
            get(preferences::list).put(preferences::save),
        )
        .route(
            "/users/{user_id}/preferences/delete",
            post(preferences::delete),
        )
        .route(
            "/users/{user_id}/preferences/{category}",
            get(preferences::in_category),
        )
        .route(
            "/users/{user_id}/preferences/{category}/name/{preference_name}",
            get(preferences::by_name),
        )
        .route(
            "/users/{user_id}/posts/flagged",
            get(preferences::flagged_posts),
        )
        .route(
            "/users/{user_id}/posts/{post_id}/reactions/{emoji_name}",
            delete(posts::remove_reaction),
        )
        // teams
        .route("/teams", post(teams::create).get(teams::list))
        .route("/teams/name/{name}", get(teams::by_name))
        .route(
            "/teams/{team_id}",
            get(teams::get).delete(team_settings::archive),
        )
        .route("/teams/{team_id}/patch", put(teams::patch))
        .route(
            "/teams/{team_id}/members",
            post(teams::add_member).get(teams::members),
        )
        .route(
            "/teams/{team_id}/members/{user_id}",
            get(teams::member).delete(teams::remove_member),
        )
        .route("/teams/{team_id}/channels", get(channels::public_in_team))
        .route(
            "/teams/{team_id}/channels/name/{name}",
            get(channels::by_name),
        )
        .route("/teams/{team_id}/posts/search", post(posts::search))
        // channels
        .route("/channels", post(channels::create))
        .route("/channels/direct", post(channels::create_direct))
        .route("/channels/group", post(channels::create_group))
        .route(
            "/channels/{channel_id}",
            get(channels::get).delete(channels::archive),
        )
        .route("/channels/{channel_id}/patch", put(channels::patch))
        .route("/channels/{channel_id}/posts", get(posts::for_channel))
        .route(
            "/channels/{channel_id}/members",
            post(channels::add_member).get(channels::members),
        )
        .route(
            "/channels/{channel_id}/members/{user_id}",
            get(channels::member).delete(channels::remove_member),
        )
        // posts
        .route("/posts", post(posts::create))
        .route(
            "/posts/{post_id}",
            get(posts::get).put(posts::update).delete(posts::delete),
        )
        .route("/posts/{post_id}/patch", put(posts::patch))
        .route("/posts/{post_id}/thread", get(posts::thread))
        .route("/posts/{post_id}/reactions", get(posts::reactions))
        .route("/reactions", post(posts::add_reaction))
        .route("/posts/{post_id}/files/info", get(files::for_post))
        // files: uploads are limited by FileSettings.MaxFileSize (checked while streaming), not
        // by MaximumPayloadSizeBytes
        .route(
            "/files",
            post(files::upload).layer(DefaultBodyLimit::disable()),
        )
        .route("/files/{file_id}", get(files::download))
        .route("/files/{file_id}/info", get(files::info))
        .route("/files/{file_id}/thumbnail", get(files::thumbnail))
        .route("/files/{file_id}/preview", get(files::preview))
        // jobs
        .route("/jobs", get(jobs::list).post(jobs::create))
        .route("/jobs/type/{job_type}", get(jobs::by_type))
        .route("/jobs/{job_id}", get(jobs::get))
        .route("/jobs/{job_id}/cancel", post(jobs::cancel))
        // system
        .route("/system/ping", get(system::ping))
        .route("/config", get(system::get_config).put(system::put_config))
        .route("/config/client", get(system::client_config))
        .route("/license/client", get(roles::client_license))
        // roles
        .route("/roles", get(roles::all))
        .route("/roles/names", post(roles::by_names))
        .route("/roles/name/{role_name}", get(roles::by_name))
        .route("/roles/{role_id}", get(roles::by_id))
        .route("/config/reload", post(system::reload_config))
        .route("/caches/invalidate", post(system::invalidate_caches))
        .route("/database/recycle", post(system::recycle_database))
        .route("/database/status", get(system::database_status))
        .route("/cluster/status", get(system::cluster_status))
        .route("/websocket", get(websocket::connect))
        .merge(sidebar_channels_and_unreads())
        .merge(people_posts_operators())
        .merge(lookups_sessions_and_tokens())
        .merge(emoji_and_threads())
        .merge(integrations())
}

/// Issue 16: bots, incoming and outgoing webhooks, slash commands (POST /hooks/{id} itself
/// is outside /api/v4: `hooks()`).
fn integrations() -> Router<App> {
    Router::new()
        .route(
            "/bots",
            post(integrations::create_bot).get(integrations::list_bots),
        )
        .route(
            "/bots/{bot_user_id}",
            get(integrations::get_bot).put(integrations::patch_bot),
        )
        .route(
            "/bots/{bot_user_id}/disable",
            post(integrations::disable_bot),
        )
        .route("/bots/{bot_user_id}/enable", post(integrations::enable_bot))
        .route(
            "/bots/{bot_user_id}/assign/{user_id}",
            post(integrations::assign_bot),
        )
        .route(
            "/bots/{bot_user_id}/convert_to_user",
            post(integrations::convert_bot_to_user),
        )
        .route(
            "/users/{user_id}/convert_to_bot",
            post(integrations::convert_user_to_bot),
        )
        .route(
            "/hooks/incoming",
            post(integrations::create_incoming).get(integrations::list_incoming),
        )
        .route(
            "/hooks/incoming/{hook_id}",
            get(integrations::get_incoming)
                .put(integrations::update_incoming)
                .delete(integrations::delete_incoming),
        )
        .route(
            "/hooks/outgoing",
            post(integrations::create_outgoing).get(integrations::list_outgoing),
        )
        .route(
            "/hooks/outgoing/{hook_id}",
            get(integrations::get_outgoing)
                .put(integrations::update_outgoing)
                .delete(integrations::delete_outgoing),
        )
        // Mattermost serves POST; mattermostdriver sends PUT.
        .route(
            "/hooks/outgoing/{hook_id}/regen_token",
            post(integrations::regen_outgoing_token).put(integrations::regen_outgoing_token),
        )
        .route("/commands/execute", post(integrations::execute_command))
        .route(
            "/commands",
            post(integrations::create_command).get(integrations::list_commands),
        )
        .route(
            "/commands/{command_id}",
            get(integrations::get_command)
                .put(integrations::update_command)
                .delete(integrations::delete_command),
        )
        .route(
            "/commands/{command_id}/regen_token",
            put(integrations::regen_command_token),
        )
        .route(
            "/teams/{team_id}/commands/autocomplete",
            get(integrations::autocomplete_commands),
        )
        .route(
            "/teams/{team_id}/commands/autocomplete_suggestions",
            get(integrations::command_suggestions),
        )
}

/// POST /hooks/{id}: incoming webhooks, at the site root as in Mattermost.
pub(crate) fn hooks() -> Router<App> {
    Router::new().route("/hooks/{hook_id}", post(integrations::execute_incoming))
}

/// Issue 13, items 3 and 5: sidebar categories, a user's channels and unreads across teams,
/// channel and team settings.
fn sidebar_channels_and_unreads() -> Router<App> {
    const CATEGORIES: &str = "/users/{user_id}/teams/{team_id}/channels/categories";
    Router::new()
        .route(
            CATEGORIES,
            get(sidebar::list)
                .post(sidebar::create)
                .put(sidebar::update_many),
        )
        .route(
            &format!("{CATEGORIES}/order"),
            get(sidebar::order).put(sidebar::update_order),
        )
        .route(
            &format!("{CATEGORIES}/{{category_id}}"),
            get(sidebar::get)
                .put(sidebar::update)
                .delete(sidebar::delete),
        )
        .route("/users/{user_id}/channels", get(channel_settings::for_user))
        .route(
            "/users/{user_id}/channel_members",
            get(channel_settings::members_for_user),
        )
        .route(
            "/users/{user_id}/teams/unread",
            get(channel_settings::team_unreads),
        )
        .route(
            "/users/{user_id}/channels/{channel_id}/posts/unread",
            get(channel_settings::posts_around_last_unread),
        )
        .route(
            "/channels/members/{user_id}/view",
            post(channel_settings::view),
        )
        .route("/channels/{channel_id}/stats", get(channel_settings::stats))
        .route(
            "/channels/{channel_id}/restore",
            post(channel_settings::restore),
        )
        .route(
            "/channels/{channel_id}/privacy",
            put(channel_settings::privacy),
        )
        .route(
            "/channels/{channel_id}/members/{user_id}/notify_props",
            put(channel_settings::notify_props),
        )
        .route(
            "/channels/{channel_id}/members/{user_id}/roles",
            put(channel_settings::roles),
        )
        .route("/teams/{team_id}/restore", post(team_settings::restore))
        .route("/teams/{team_id}/stats", get(team_settings::stats))
        .route(
            "/teams/{team_id}/image",
            get(team_settings::icon)
                .post(team_settings::set_icon)
                .delete(team_settings::remove_icon)
                .layer(DefaultBodyLimit::disable()),
        )
        .route("/teams/members/invite", post(team_settings::join_by_invite))
}

/// Issue 13's routes: people, posts, operators' tools.
fn people_posts_operators() -> Router<App> {
    Router::new()
        // people
        .route("/users/autocomplete", get(people::autocomplete))
        .route("/users/search", post(people::search))
        .route("/users/stats", get(people::stats))
        .route("/users/stats/filtered", get(people::filtered_stats))
        .route("/limits/server", get(people::server_limits))
        .route("/users/{user_id}/active", put(people::set_active))
        .route(
            "/users/{user_id}/image",
            get(people::image)
                .post(people::set_image)
                .delete(people::reset_image)
                .layer(DefaultBodyLimit::disable()),
        )
        .route("/users/{user_id}/image/default", get(people::default_image))
        .route(
            "/users/{user_id}/status/custom",
            put(people::set_custom_status).delete(people::remove_custom_status),
        )
        // posts
        .route("/posts/ids", post(post_lookups::by_ids))
        .route("/posts/search", post(post_lookups::search_all_teams))
        .route("/posts/{post_id}/pin", post(post_lookups::pin))
        .route("/posts/{post_id}/unpin", post(post_lookups::unpin))
        .route("/channels/{channel_id}/pinned", get(post_lookups::pinned))
        .route(
            "/teams/{team_id}/files/search",
            post(post_lookups::search_files),
        )
        // operators' tools
        .route("/config/patch", put(operators::patch_config))
        .route(
            "/server_busy",
            get(operators::busy)
                .post(operators::set_busy)
                .delete(operators::clear_busy),
        )
        .route("/logs", get(operators::logs))
        .route("/logs/query", post(operators::query_logs))
}

/// Issue 13 (misc): team and channel updates, members by ids, lookups by name and invite id,
/// sessions and tokens in bulk, the schema version.
fn lookups_sessions_and_tokens() -> Router<App> {
    Router::new()
        .route("/teams/{team_id}", put(lookups::update_team))
        .route("/channels/{channel_id}", put(lookups::update_channel))
        .route(
            "/channels/{channel_id}/members/ids",
            post(lookups::channel_members_by_ids),
        )
        .route(
            "/teams/{team_id}/members/ids",
            post(lookups::team_members_by_ids),
        )
        .route(
            "/teams/{team_id}/members/{user_id}/roles",
            put(lookups::team_member_roles),
        )
        .route(
            "/teams/name/{name}/channels/name/{channel_name}",
            get(lookups::channel_by_names),
        )
        .route("/teams/name/{name}/exists", get(lookups::team_exists))
        .route("/channels/stats/member_count", post(lookups::member_counts))
        .route("/channels/{channel_id}/timezones", get(lookups::timezones))
        .route(
            "/teams/{team_id}/channels/deleted",
            get(lookups::archived_channels),
        )
        .route(
            "/teams/{team_id}/regenerate_invite_id",
            post(lookups::regenerate_invite_id),
        )
        .route("/teams/invite/{invite_id}", get(lookups::invite_info))
        .route(
            "/users/{user_id}/sessions/revoke/all",
            post(lookups::revoke_user_sessions),
        )
        .route(
            "/users/sessions/revoke/all",
            post(lookups::revoke_all_sessions),
        )
        .route(
            "/users/{user_id}/reset_failed_attempts",
            post(lookups::reset_failed_attempts),
        )
        .route("/users/tokens", get(lookups::all_tokens))
        .route("/users/tokens/disable", post(lookups::disable_token))
        .route("/users/tokens/enable", post(lookups::enable_token))
        .route("/users/tokens/{token_id}", get(lookups::token))
        .route("/system/schema/version", get(lookups::schema_version))
        .route("/channels/members/me/mark_read", post(lookups::mark_read))
        .route(
            "/users/{user_id}/teams/{team_id}/read",
            put(lookups::read_team),
        )
        .route(
            "/channels/members/{user_id}/direct/read",
            put(lookups::read_direct),
        )
        .route(
            "/channels/{channel_id}/common_teams",
            get(lookups::common_teams),
        )
        .route("/teams/search", post(lookups::search_teams))
        .route(
            "/teams/{team_id}/channels/search",
            post(lookups::search_channels),
        )
        .route(
            "/teams/{team_id}/channels/autocomplete",
            get(lookups::autocomplete_channels),
        )
        .route(
            "/teams/{team_id}/channels/search_autocomplete",
            get(lookups::autocomplete_joined_channels),
        )
        .route(
            "/channels/group/search",
            post(lookups::search_group_channels),
        )
        .route("/users/known", get(lookups::known_users))
        .route("/config/environment", get(lookups::environment_config))
        .route(
            "/users/group_channels",
            post(lookups::group_channel_members),
        )
        .route(
            "/users/{user_id}/posts/{post_id}/set_unread",
            post(lookups::set_unread),
        )
        .route("/channels", get(lookups::all_channels))
        .route("/posts/{post_id}/info", get(lookups::post_info))
        .route(
            "/system/onboarding/complete",
            get(lookups::onboarding).post(lookups::complete_onboarding),
        )
}

/// Issue 13: custom emoji and collapsed reply threads.
fn emoji_and_threads() -> Router<App> {
    const THREADS: &str = "/users/{user_id}/teams/{team_id}/threads";
    Router::new()
        // custom emoji: an upload is limited by MaxEmojiFileSize (checked while reading), not
        // by MaximumPayloadSizeBytes
        .route(
            "/emoji",
            post(emoji::create)
                .get(emoji::list)
                .layer(DefaultBodyLimit::disable()),
        )
        .route("/emoji/names", post(emoji::by_names))
        .route("/emoji/search", post(emoji::search))
        .route("/emoji/autocomplete", get(emoji::autocomplete))
        .route("/emoji/name/{emoji_name}", get(emoji::by_name))
        .route("/emoji/{emoji_id}", get(emoji::get).delete(emoji::delete))
        .route("/emoji/{emoji_id}/image", get(emoji::image))
        // collapsed reply threads
        .route(THREADS, get(threads::list))
        .route(&format!("{THREADS}/read"), put(threads::read_all))
        .route(&format!("{THREADS}/{{thread_id}}"), get(threads::get))
        .route(
            &format!("{THREADS}/{{thread_id}}/following"),
            put(threads::follow).delete(threads::unfollow),
        )
        .route(
            &format!("{THREADS}/{{thread_id}}/read/{{timestamp}}"),
            put(threads::read),
        )
        .route(
            &format!("{THREADS}/{{thread_id}}/set_unread/{{post_id}}"),
            post(threads::set_unread),
        )
}

/// Mattermost's answer to a successful write that returns nothing else.
pub(crate) fn status_ok() -> Json<Value> {
    Json(json!({"status": "OK"}))
}
