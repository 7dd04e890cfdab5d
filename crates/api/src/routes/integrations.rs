//! Integrations (issue 16): /bots, /hooks/incoming, /hooks/outgoing, /commands, and POST
//! /hooks/{id} (outside /api/v4, where Mattermost serves it).

use super::status_ok;
use crate::error::ApiResult;
use crate::extract::{
    contains_nul_character, drop_nulls, require_id, serde_urlencoded_from_str, Caller, JsonBody,
    Path, Query,
};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use chorus_app::{App, BotListQuery, BotToUserRequest, CommandListQuery, HookListQuery};
use chorus_model::{
    Bot, BotPatch, Command, CommandArgs, CommandResponse, ErrorId, IncomingWebhook,
    IncomingWebhookRequest, OutgoingWebhook, User,
};
use serde::Deserialize;
use serde_json::Value;
use std::collections::HashMap;

#[derive(Deserialize, Default)]
#[serde(default)]
pub(crate) struct IncludeDeleted {
    include_deleted: Option<bool>,
}

// ---- bots ----

pub(crate) async fn create_bot(
    State(app): State<App>,
    Caller(session): Caller,
    JsonBody(bot): JsonBody<Bot>,
) -> ApiResult<(StatusCode, Json<Bot>)> {
    Ok((
        StatusCode::CREATED,
        Json(app.create_bot(&session, bot).await?),
    ))
}

pub(crate) async fn list_bots(
    State(app): State<App>,
    Caller(session): Caller,
    Query(query): Query<BotListQuery>,
) -> ApiResult<Json<Vec<Bot>>> {
    Ok(Json(app.list_bots(&session, query).await?))
}

pub(crate) async fn get_bot(
    State(app): State<App>,
    Caller(session): Caller,
    Path(bot_user_id): Path<String>,
    Query(query): Query<IncludeDeleted>,
) -> ApiResult<Json<Bot>> {
    require_id(&bot_user_id, "bot_user_id")?;
    let include_deleted = query.include_deleted.unwrap_or(false);
    Ok(Json(
        app.get_bot(&session, &bot_user_id, include_deleted).await?,
    ))
}

pub(crate) async fn patch_bot(
    State(app): State<App>,
    Caller(session): Caller,
    Path(bot_user_id): Path<String>,
    JsonBody(patch): JsonBody<BotPatch>,
) -> ApiResult<Json<Bot>> {
    require_id(&bot_user_id, "bot_user_id")?;
    Ok(Json(app.patch_bot(&session, &bot_user_id, patch).await?))
}

pub(crate) async fn disable_bot(
    State(app): State<App>,
    Caller(session): Caller,
    Path(bot_user_id): Path<String>,
) -> ApiResult<Json<Bot>> {
    require_id(&bot_user_id, "bot_user_id")?;
    Ok(Json(
        app.set_bot_active(&session, &bot_user_id, false).await?,
    ))
}

pub(crate) async fn enable_bot(
    State(app): State<App>,
    Caller(session): Caller,
    Path(bot_user_id): Path<String>,
) -> ApiResult<Json<Bot>> {
    require_id(&bot_user_id, "bot_user_id")?;
    Ok(Json(
        app.set_bot_active(&session, &bot_user_id, true).await?,
    ))
}

pub(crate) async fn assign_bot(
    State(app): State<App>,
    Caller(session): Caller,
    Path((bot_user_id, user_id)): Path<(String, String)>,
) -> ApiResult<Json<Bot>> {
    require_id(&bot_user_id, "bot_user_id")?;
    require_id(&user_id, "user_id")?;
    Ok(Json(
        app.assign_bot(&session, &bot_user_id, &user_id).await?,
    ))
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(crate) struct SetSystemAdmin {
    set_system_admin: Option<bool>,
}

pub(crate) async fn convert_user_to_bot(
    State(app): State<App>,
    Caller(session): Caller,
    Path(user_id): Path<String>,
) -> ApiResult<Json<Bot>> {
    require_id(&user_id, "user_id")?;
    Ok(Json(app.convert_user_to_bot(&session, &user_id).await?))
}

pub(crate) async fn convert_bot_to_user(
    State(app): State<App>,
    Caller(session): Caller,
    Path(bot_user_id): Path<String>,
    Query(query): Query<SetSystemAdmin>,
    JsonBody(request): JsonBody<BotToUserRequest>,
) -> ApiResult<Json<User>> {
    require_id(&bot_user_id, "bot_user_id")?;
    let set_system_admin = query.set_system_admin.unwrap_or(false);
    Ok(Json(
        app.convert_bot_to_user(&session, &bot_user_id, request, set_system_admin)
            .await?,
    ))
}

// ---- incoming webhooks ----

pub(crate) async fn create_incoming(
    State(app): State<App>,
    Caller(session): Caller,
    JsonBody(hook): JsonBody<IncomingWebhook>,
) -> ApiResult<(StatusCode, Json<IncomingWebhook>)> {
    Ok((
        StatusCode::CREATED,
        Json(app.create_incoming_webhook(&session, hook).await?),
    ))
}

pub(crate) async fn list_incoming(
    State(app): State<App>,
    Caller(session): Caller,
    Query(query): Query<HookListQuery>,
) -> ApiResult<Json<Vec<IncomingWebhook>>> {
    Ok(Json(app.list_incoming_webhooks(&session, query).await?))
}

pub(crate) async fn get_incoming(
    State(app): State<App>,
    Caller(session): Caller,
    Path(hook_id): Path<String>,
) -> ApiResult<Json<IncomingWebhook>> {
    require_id(&hook_id, "hook_id")?;
    Ok(Json(app.get_incoming_webhook(&session, &hook_id).await?))
}

pub(crate) async fn update_incoming(
    State(app): State<App>,
    Caller(session): Caller,
    Path(hook_id): Path<String>,
    JsonBody(hook): JsonBody<IncomingWebhook>,
) -> ApiResult<Json<IncomingWebhook>> {
    require_id(&hook_id, "hook_id")?;
    Ok(Json(
        app.update_incoming_webhook(&session, &hook_id, hook)
            .await?,
    ))
}

pub(crate) async fn delete_incoming(
    State(app): State<App>,
    Caller(session): Caller,
    Path(hook_id): Path<String>,
) -> ApiResult<Json<Value>> {
    require_id(&hook_id, "hook_id")?;
    app.delete_incoming_webhook(&session, &hook_id).await?;
    Ok(status_ok())
}

/// POST /hooks/{id}: a JSON body, or a form whose `payload` field is the JSON (Slack's and
/// Mattermost's two ways). Answers `ok` as text, as Mattermost does.
pub(crate) async fn execute_incoming(
    State(app): State<App>,
    Path(hook_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<impl IntoResponse> {
    let request = parse_incoming_request(&headers, &body)?;
    app.execute_incoming_webhook(&hook_id, request).await?;
    Ok(([(header::CONTENT_TYPE, "text/plain")], "ok"))
}

fn parse_incoming_request(
    headers: &HeaderMap,
    body: &[u8],
) -> Result<IncomingWebhookRequest, chorus_model::AppError> {
    let unparsable =
        |reason: String| ErrorId::IncomingWebhookUnparsable.with_param("reason", reason);
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    let json: Vec<u8> = if content_type.starts_with("application/x-www-form-urlencoded") {
        let text = std::str::from_utf8(body).map_err(|error| unparsable(error.to_string()))?;
        let mut form: HashMap<String, String> =
            serde_urlencoded_from_str(text).map_err(unparsable)?;
        form.remove("payload")
            .ok_or_else(|| unparsable("no payload field in the form".into()))?
            .into_bytes()
    } else {
        body.to_vec()
    };
    if json.iter().all(u8::is_ascii_whitespace) {
        return Err(unparsable("the body is empty".into()));
    }
    let mut tree: Value =
        serde_json::from_slice(&json).map_err(|error| unparsable(error.to_string()))?;
    if contains_nul_character(&tree) {
        return Err(ErrorId::NulCharacterInBody.into());
    }
    drop_nulls(&mut tree);
    serde_json::from_value(tree).map_err(|error| unparsable(error.to_string()))
}

// ---- outgoing webhooks ----

pub(crate) async fn create_outgoing(
    State(app): State<App>,
    Caller(session): Caller,
    JsonBody(hook): JsonBody<OutgoingWebhook>,
) -> ApiResult<(StatusCode, Json<OutgoingWebhook>)> {
    Ok((
        StatusCode::CREATED,
        Json(app.create_outgoing_webhook(&session, hook).await?),
    ))
}

pub(crate) async fn list_outgoing(
    State(app): State<App>,
    Caller(session): Caller,
    Query(query): Query<HookListQuery>,
) -> ApiResult<Json<Vec<OutgoingWebhook>>> {
    Ok(Json(app.list_outgoing_webhooks(&session, query).await?))
}

pub(crate) async fn get_outgoing(
    State(app): State<App>,
    Caller(session): Caller,
    Path(hook_id): Path<String>,
) -> ApiResult<Json<OutgoingWebhook>> {
    require_id(&hook_id, "hook_id")?;
    Ok(Json(app.get_outgoing_webhook(&session, &hook_id).await?))
}

pub(crate) async fn update_outgoing(
    State(app): State<App>,
    Caller(session): Caller,
    Path(hook_id): Path<String>,
    JsonBody(hook): JsonBody<OutgoingWebhook>,
) -> ApiResult<Json<OutgoingWebhook>> {
    require_id(&hook_id, "hook_id")?;
    Ok(Json(
        app.update_outgoing_webhook(&session, &hook_id, hook)
            .await?,
    ))
}

pub(crate) async fn delete_outgoing(
    State(app): State<App>,
    Caller(session): Caller,
    Path(hook_id): Path<String>,
) -> ApiResult<Json<Value>> {
    require_id(&hook_id, "hook_id")?;
    app.delete_outgoing_webhook(&session, &hook_id).await?;
    Ok(status_ok())
}

pub(crate) async fn regen_outgoing_token(
    State(app): State<App>,
    Caller(session): Caller,
    Path(hook_id): Path<String>,
) -> ApiResult<Json<OutgoingWebhook>> {
    require_id(&hook_id, "hook_id")?;
    Ok(Json(
        app.regenerate_outgoing_token(&session, &hook_id).await?,
    ))
}

// ---- slash commands ----

pub(crate) async fn execute_command(
    State(app): State<App>,
    Caller(session): Caller,
    JsonBody(args): JsonBody<CommandArgs>,
) -> ApiResult<Json<CommandResponse>> {
    Ok(Json(app.execute_command(&session, args).await?))
}

pub(crate) async fn create_command(
    State(app): State<App>,
    Caller(session): Caller,
    JsonBody(command): JsonBody<Command>,
) -> ApiResult<(StatusCode, Json<Command>)> {
    Ok((
        StatusCode::CREATED,
        Json(app.create_command(&session, command).await?),
    ))
}

pub(crate) async fn list_commands(
    State(app): State<App>,
    Caller(session): Caller,
    Query(query): Query<CommandListQuery>,
) -> ApiResult<Json<Vec<Command>>> {
    Ok(Json(app.list_commands(&session, query).await?))
}

pub(crate) async fn get_command(
    State(app): State<App>,
    Caller(session): Caller,
    Path(command_id): Path<String>,
) -> ApiResult<Json<Command>> {
    require_id(&command_id, "command_id")?;
    Ok(Json(app.get_command(&session, &command_id).await?))
}

pub(crate) async fn update_command(
    State(app): State<App>,
    Caller(session): Caller,
    Path(command_id): Path<String>,
    JsonBody(command): JsonBody<Command>,
) -> ApiResult<Json<Command>> {
    require_id(&command_id, "command_id")?;
    Ok(Json(
        app.update_command(&session, &command_id, command).await?,
    ))
}

pub(crate) async fn delete_command(
    State(app): State<App>,
    Caller(session): Caller,
    Path(command_id): Path<String>,
) -> ApiResult<Json<Value>> {
    require_id(&command_id, "command_id")?;
    app.delete_command(&session, &command_id).await?;
    Ok(status_ok())
}

/// PUT /commands/{id}/regen_token: `{"token": ...}`, as Mattermost answers.
pub(crate) async fn regen_command_token(
    State(app): State<App>,
    Caller(session): Caller,
    Path(command_id): Path<String>,
) -> ApiResult<Json<Value>> {
    require_id(&command_id, "command_id")?;
    let token = app.regenerate_command_token(&session, &command_id).await?;
    Ok(Json(serde_json::json!({ "token": token })))
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
pub(crate) struct SuggestionsQuery {
    user_input: String,
}

/// GET /teams/{id}/commands/autocomplete_suggestions?user_input=/jo
pub(crate) async fn command_suggestions(
    State(app): State<App>,
    Caller(session): Caller,
    Path(team_id): Path<String>,
    Query(query): Query<SuggestionsQuery>,
) -> ApiResult<Json<Vec<chorus_app::AutocompleteSuggestion>>> {
    require_id(&team_id, "team_id")?;
    Ok(Json(
        app.command_suggestions(&session, &team_id, &query.user_input)
            .await?,
    ))
}

pub(crate) async fn autocomplete_commands(
    State(app): State<App>,
    Caller(session): Caller,
    Path(team_id): Path<String>,
) -> ApiResult<Json<Vec<Command>>> {
    require_id(&team_id, "team_id")?;
    Ok(Json(app.autocomplete_commands(&session, &team_id).await?))
}
