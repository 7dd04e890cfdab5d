//! /roles and /license/client: what the apps load at start-up to decide what to show.

use crate::error::ApiResult;
use crate::extract::{require_id, Caller, JsonBody, MaybeCaller, Path};
use axum::extract::State;
use axum::Json;
use chorus_app::App;
use chorus_model::{is_valid_role_name, ErrorId, Role};
use std::collections::BTreeMap;

pub(crate) async fn all(
    State(app): State<App>,
    Caller(session): Caller,
) -> ApiResult<Json<Vec<Role>>> {
    Ok(Json(app.all_roles(&session)?))
}

pub(crate) async fn by_id(
    State(app): State<App>,
    Caller(_session): Caller,
    Path(role_id): Path<String>,
) -> ApiResult<Json<Role>> {
    require_id(&role_id, "role_id")?;
    Ok(Json(app.role_by_id(&role_id)?))
}

pub(crate) async fn by_name(
    State(app): State<App>,
    Caller(_session): Caller,
    Path(role_name): Path<String>,
) -> ApiResult<Json<Role>> {
    if !is_valid_role_name(&role_name) {
        return Err(ErrorId::InvalidUrlParam
            .with_param("name", "role_name")
            .into());
    }
    Ok(Json(app.role_by_name(&role_name)?))
}

pub(crate) async fn by_names(
    State(app): State<App>,
    Caller(_session): Caller,
    JsonBody(names): JsonBody<Vec<String>>,
) -> ApiResult<Json<Vec<Role>>> {
    Ok(Json(app.roles_by_names(&names)?))
}

/// GET /license/client (any caller, logged in or not; `format=old` is the only format).
pub(crate) async fn client_license(
    State(app): State<App>,
    MaybeCaller(_caller): MaybeCaller,
) -> Json<BTreeMap<String, String>> {
    Json(app.client_license())
}
