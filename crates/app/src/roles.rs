//! Roles as clients read them (`/roles`): each built-in role with the permissions Chorus
//! actually grants its holders — the checks in `users`, `teams`, `channels`, `posts`, `files`
//! and `system`, written with Mattermost's permission names. Roles are static (no schemes, no
//! role patching), so the table lives here and ids are derived from the names.
//!
//! What Chorus's checks amount to: any user may create teams, open direct and group channels,
//! list users and join open teams; a team member may see the team, list, join and create its
//! channels and add other users to it, and create custom emoji and delete their own; a team
//! admin may also change the team, remove its members and delete anyone's custom emoji; a channel member may read, post, react, upload, and change, archive and add or
//! remove members of the channel (Chorus gives channel admins nothing more); a system admin may
//! do everything, on every team and channel, and manage the server (config, caches, database,
//! jobs, roles, other users and their tokens and sessions). Guests do not exist in Chorus;
//! their roles are listed with what a guest would be granted, for clients that ask.

use crate::{require_system_admin, App, AppResult};
use chorus_model::{
    is_valid_role_name, AppError, ErrorId, Role, Session, ROLE_CHANNEL_ADMIN, ROLE_CHANNEL_GUEST,
    ROLE_CHANNEL_USER, ROLE_SYSTEM_ADMIN, ROLE_SYSTEM_GUEST, ROLE_SYSTEM_USER, ROLE_TEAM_ADMIN,
    ROLE_TEAM_GUEST, ROLE_TEAM_USER,
};

const SYSTEM_USER_PERMISSIONS: &[&str] = &[
    "create_team",
    "list_public_teams",
    "join_public_teams",
    "create_direct_channel",
    "create_group_channel",
    "view_members",
];

const SYSTEM_GUEST_PERMISSIONS: &[&str] = &["create_direct_channel", "create_group_channel"];

const TEAM_USER_PERMISSIONS: &[&str] = &[
    "view_team",
    "list_team_channels",
    "join_public_channels",
    "read_public_channel",
    "create_public_channel",
    "create_private_channel",
    "add_user_to_team",
    "create_emojis",
    "delete_emojis",
];

const TEAM_GUEST_PERMISSIONS: &[&str] = &["view_team"];

const TEAM_ADMIN_PERMISSIONS: &[&str] = &[
    "manage_team",
    "remove_user_from_team",
    "delete_others_emojis",
];

const CHANNEL_USER_PERMISSIONS: &[&str] = &[
    "read_channel",
    "read_channel_content",
    "create_post",
    "edit_post",
    "delete_post",
    "add_reaction",
    "remove_reaction",
    "upload_file",
    "use_channel_mentions",
    "manage_public_channel_properties",
    "manage_private_channel_properties",
    "manage_public_channel_members",
    "manage_private_channel_members",
    "delete_public_channel",
    "delete_private_channel",
];

const CHANNEL_GUEST_PERMISSIONS: &[&str] = &[
    "read_channel",
    "read_channel_content",
    "create_post",
    "edit_post",
    "add_reaction",
    "remove_reaction",
    "upload_file",
    "use_channel_mentions",
];

/// What only a system admin may do, beyond every permission of the other roles.
const SYSTEM_ADMIN_ONLY_PERMISSIONS: &[&str] = &[
    "manage_system",
    "manage_roles",
    "edit_other_users",
    "read_other_users_teams",
    "list_private_teams",
    "join_private_teams",
    "create_user_access_token",
    "read_user_access_token",
    "revoke_user_access_token",
    "edit_others_posts",
    "delete_others_posts",
    "remove_others_reactions",
    "manage_jobs",
    "reload_config",
    "invalidate_caches",
    "recycle_database_connections",
    "sysconsole_read_about_edition_and_license",
    "sysconsole_read_environment_web_server",
    "sysconsole_write_environment_web_server",
    "sysconsole_read_environment_database",
    "sysconsole_write_environment_database",
    "sysconsole_read_environment_file_storage",
    "sysconsole_write_environment_file_storage",
    "sysconsole_read_environment_high_availability",
    "sysconsole_write_environment_high_availability",
    "sysconsole_read_environment_logging",
    "sysconsole_write_environment_logging",
    "sysconsole_read_environment_session_lengths",
    "sysconsole_write_environment_session_lengths",
    "sysconsole_read_site_customization",
    "sysconsole_write_site_customization",
    "sysconsole_read_site_users_and_teams",
    "sysconsole_write_site_users_and_teams",
    "sysconsole_read_site_notifications",
    "sysconsole_write_site_notifications",
    "sysconsole_read_site_posts",
    "sysconsole_write_site_posts",
    "sysconsole_read_site_file_sharing_and_downloads",
    "sysconsole_write_site_file_sharing_and_downloads",
    "sysconsole_read_authentication_signup",
    "sysconsole_write_authentication_signup",
    "sysconsole_read_authentication_email",
    "sysconsole_write_authentication_email",
    "sysconsole_read_authentication_password",
    "sysconsole_write_authentication_password",
    "sysconsole_read_user_management_users",
    "sysconsole_write_user_management_users",
    "sysconsole_read_user_management_teams",
    "sysconsole_write_user_management_teams",
    "sysconsole_read_user_management_channels",
    "sysconsole_write_user_management_channels",
];

/// Every role Chorus knows, in a fixed order: (name, i18n key of its display name,
/// permissions).
fn role_table() -> Vec<(&'static str, &'static str, Vec<&'static str>)> {
    let system_admin_permissions: Vec<&str> = [
        SYSTEM_USER_PERMISSIONS,
        TEAM_USER_PERMISSIONS,
        TEAM_ADMIN_PERMISSIONS,
        CHANNEL_USER_PERMISSIONS,
        SYSTEM_ADMIN_ONLY_PERMISSIONS,
    ]
    .concat();
    vec![
        (
            ROLE_SYSTEM_GUEST,
            "global_guest",
            SYSTEM_GUEST_PERMISSIONS.to_vec(),
        ),
        (
            ROLE_SYSTEM_USER,
            "global_user",
            SYSTEM_USER_PERMISSIONS.to_vec(),
        ),
        (ROLE_SYSTEM_ADMIN, "global_admin", system_admin_permissions),
        (
            ROLE_TEAM_GUEST,
            ROLE_TEAM_GUEST,
            TEAM_GUEST_PERMISSIONS.to_vec(),
        ),
        (
            ROLE_TEAM_USER,
            ROLE_TEAM_USER,
            TEAM_USER_PERMISSIONS.to_vec(),
        ),
        (
            ROLE_TEAM_ADMIN,
            ROLE_TEAM_ADMIN,
            TEAM_ADMIN_PERMISSIONS.to_vec(),
        ),
        (
            ROLE_CHANNEL_GUEST,
            ROLE_CHANNEL_GUEST,
            CHANNEL_GUEST_PERMISSIONS.to_vec(),
        ),
        (
            ROLE_CHANNEL_USER,
            ROLE_CHANNEL_USER,
            CHANNEL_USER_PERMISSIONS.to_vec(),
        ),
        (ROLE_CHANNEL_ADMIN, ROLE_CHANNEL_ADMIN, Vec::new()),
    ]
}

/// A stable 26-character id: the name without underscores, padded with zeros (every role name
/// here is shorter than 26 characters and unique without its underscores).
fn role_id(name: &str) -> String {
    format!("{:0<26}", name.replace('_', ""))
}

fn built_in_roles() -> Vec<Role> {
    role_table()
        .into_iter()
        .map(|(name, i18n_name, permissions)| Role {
            id: role_id(name),
            name: name.to_string(),
            display_name: format!("authentication.roles.{i18n_name}.name"),
            description: format!("authentication.roles.{i18n_name}.description"),
            create_at: 0,
            update_at: 0,
            delete_at: 0,
            permissions: permissions.into_iter().map(str::to_string).collect(),
            scheme_managed: true,
            built_in: true,
            scheme_id: None,
        })
        .collect()
}

impl App {
    /// GET /roles: system admins only.
    pub fn all_roles(&self, session: &Session) -> AppResult<Vec<Role>> {
        require_system_admin(session)?;
        Ok(built_in_roles())
    }

    /// GET /roles/{id}.
    pub fn role_by_id(&self, role_id: &str) -> AppResult<Role> {
        built_in_roles()
            .into_iter()
            .find(|role| role.id == role_id)
            .ok_or_else(|| ErrorId::RoleNotFound.into())
    }

    /// GET /roles/name/{name}.
    pub fn role_by_name(&self, name: &str) -> AppResult<Role> {
        built_in_roles()
            .into_iter()
            .find(|role| role.name == name)
            .ok_or_else(|| ErrorId::RoleNameNotFound.into())
    }

    /// POST /roles/names: the roles of these names that exist (blank names skipped; a
    /// malformed one refuses the request, as in Mattermost).
    pub fn roles_by_names(&self, names: &[String]) -> AppResult<Vec<Role>> {
        if names.is_empty() {
            return Err(AppError::invalid_param("rolenames"));
        }
        let mut wanted = Vec::new();
        for name in names {
            let name = name.trim();
            if name.is_empty() {
                continue;
            }
            if !is_valid_role_name(name) {
                return Err(AppError::invalid_param("rolename"));
            }
            wanted.push(name);
        }
        Ok(built_in_roles()
            .into_iter()
            .filter(|role| wanted.contains(&role.name.as_str()))
            .collect())
    }

    /// GET /license/client: Chorus has no license and needs none; every feature is on. This
    /// is what an unlicensed Mattermost answers, which every client accepts.
    pub fn client_license(&self) -> std::collections::BTreeMap<String, String> {
        std::collections::BTreeMap::from([("IsLicensed".to_string(), "false".to_string())])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_ids_are_valid_unique_and_stable() {
        let roles = built_in_roles();
        let mut ids: Vec<&str> = roles.iter().map(|role| role.id.as_str()).collect();
        for id in &ids {
            assert!(chorus_model::is_valid_id(id), "{id}");
        }
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), roles.len());
        assert_eq!(role_id("system_admin"), "systemadmin000000000000000");
    }

    #[test]
    fn system_admin_holds_every_permission_of_the_other_roles() {
        let roles = built_in_roles();
        let admin = roles
            .iter()
            .find(|role| role.name == "system_admin")
            .unwrap();
        for role in &roles {
            for permission in &role.permissions {
                assert!(admin.permissions.contains(permission), "{permission}");
            }
        }
        assert!(admin.permissions.contains(&"manage_system".to_string()));
    }
}
