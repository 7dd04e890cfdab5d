//! `user` and `roles`.

use super::{Context, Outcome};
use crate::cli::{PageArgs, RoleCommand, UserCommand, UserCreateArgs};
use crate::client::Client;
use crate::output::{done, print_json, text, yes_no, Table};
use crate::refs;
use anyhow::Result;
use serde_json::{json, Value};

pub async fn run(context: &Context, command: UserCommand) -> Result<Outcome> {
    let client = context.client()?;
    match command {
        UserCommand::Create(args) => create(context, &client, args).await?,
        UserCommand::List(paging) => {
            let users = list(&client, &paging).await?;
            print_users(context, &users);
        }
        UserCommand::Search { term } => {
            let users = client
                .post(
                    "/users/search",
                    &json!({"term": term, "allow_inactive": true, "limit": 100}),
                )
                .await?;
            let users = users.as_array().cloned().unwrap_or_default();
            if users.is_empty() && !context.json {
                println!("no user matches {term:?}");
            } else {
                print_users(context, &users);
            }
        }
        UserCommand::Deactivate { users } => set_active(context, &client, &users, false).await?,
        UserCommand::Activate { users } => set_active(context, &client, &users, true).await?,
        UserCommand::Role(command) => return role_with(context, &client, command).await,
        UserCommand::Email { user, new_email } => {
            patch_user(context, &client, &user, json!({"email": new_email})).await?
        }
        UserCommand::Username { user, new_username } => {
            patch_user(context, &client, &user, json!({"username": new_username})).await?
        }
        UserCommand::ChangePassword { user, password } => {
            let found = refs::user(&client, &user).await?;
            let answer = client
                .put(
                    &format!("/users/{}/password", text(&found, "id")),
                    &json!({"new_password": password}),
                )
                .await?;
            let message = format!("password of {} changed", text(&found, "username"));
            done(context.json, &answer, message);
        }
    }
    Ok(Outcome::Success)
}

pub async fn role(context: &Context, command: RoleCommand) -> Result<Outcome> {
    let client = context.client()?;
    role_with(context, &client, command).await
}

async fn create(context: &Context, client: &Client, args: UserCreateArgs) -> Result<()> {
    let mut body = json!({
        "email": args.email,
        "username": args.username,
        "password": args.password,
    });
    for (key, value) in [
        ("first_name", &args.firstname),
        ("last_name", &args.lastname),
        ("nickname", &args.nickname),
    ] {
        if let Some(value) = value {
            body[key] = value.clone().into();
        }
    }
    let mut user = client.post("/users", &body).await?;
    if args.system_admin {
        let user_id = text(&user, "id");
        client
            .put(
                &format!("/users/{user_id}/roles"),
                &json!({"roles": "system_user system_admin"}),
            )
            .await?;
        user = client.get(&format!("/users/{user_id}")).await?;
    }
    if context.json {
        print_json(&user);
    } else {
        println!(
            "created user {} ({}){}",
            text(&user, "username"),
            text(&user, "id"),
            if args.system_admin {
                " as a system admin"
            } else {
                ""
            }
        );
    }
    Ok(())
}

async fn patch_user(context: &Context, client: &Client, name: &str, patch: Value) -> Result<()> {
    let user = refs::user(client, name).await?;
    let patched = client
        .put(&format!("/users/{}/patch", text(&user, "id")), &patch)
        .await?;
    if context.json {
        print_json(&patched);
    } else {
        println!(
            "user {} is now {} ({})",
            text(&user, "id"),
            text(&patched, "username"),
            text(&patched, "email")
        );
    }
    Ok(())
}

async fn list(client: &Client, paging: &PageArgs) -> Result<Vec<Value>> {
    let per_page = paging.per_page.clamp(1, 200);
    let mut page = paging.page;
    let mut users = Vec::new();
    loop {
        let batch = client
            .get(&format!("/users?page={page}&per_page={per_page}"))
            .await?;
        let batch = batch.as_array().cloned().unwrap_or_default();
        let short = (batch.len() as u32) < per_page;
        users.extend(batch);
        if !paging.all || short {
            return Ok(users);
        }
        page += 1;
    }
}

fn print_users(context: &Context, users: &[Value]) {
    if context.json {
        print_json(&Value::Array(users.to_vec()));
        return;
    }
    let mut table = Table::new(&["ID", "USERNAME", "EMAIL", "ROLES", "ACTIVE"]);
    for user in users {
        let active = user.get("delete_at").and_then(Value::as_i64).unwrap_or(0) == 0;
        table.row(vec![
            text(user, "id"),
            text(user, "username"),
            text(user, "email"),
            text(user, "roles"),
            yes_no(active),
        ]);
    }
    print!("{}", table.render());
}

async fn set_active(
    context: &Context,
    client: &Client,
    users: &[String],
    active: bool,
) -> Result<()> {
    let mut answers = Vec::new();
    for name in users {
        let user = refs::user(client, name).await?;
        let user_id = text(&user, "id");
        client
            .put(
                &format!("/users/{user_id}/active"),
                &json!({"active": active}),
            )
            .await?;
        if context.json {
            answers.push(client.get(&format!("/users/{user_id}")).await?);
        } else {
            let verb = if active { "activated" } else { "deactivated" };
            println!("{verb} user {}", text(&user, "username"));
        }
    }
    if context.json {
        print_json(&Value::Array(answers));
    }
    Ok(())
}

/// mmctl's rule: `system-admin` adds system_admin to the user's roles, `member` takes it away;
/// any other roles the user has stay.
pub fn roles_with(roles: &str, system_admin: bool) -> String {
    let mut kept: Vec<&str> = roles
        .split_whitespace()
        .filter(|role| *role != "system_admin")
        .collect();
    if !kept.contains(&"system_user") {
        kept.insert(0, "system_user");
    }
    if system_admin {
        kept.push("system_admin");
    }
    kept.join(" ")
}

async fn role_with(context: &Context, client: &Client, command: RoleCommand) -> Result<Outcome> {
    let (users, system_admin) = match command {
        RoleCommand::SystemAdmin { users } => (users, true),
        RoleCommand::Member { users } => (users, false),
    };
    let mut answers = Vec::new();
    for name in &users {
        let user = refs::user(client, name).await?;
        let user_id = text(&user, "id");
        let roles = roles_with(&text(&user, "roles"), system_admin);
        client
            .put(&format!("/users/{user_id}/roles"), &json!({"roles": roles}))
            .await?;
        if context.json {
            answers.push(client.get(&format!("/users/{user_id}")).await?);
        } else {
            println!("{}: roles now {roles}", text(&user, "username"));
        }
    }
    if context.json {
        print_json(&Value::Array(answers));
    }
    Ok(Outcome::Success)
}

#[cfg(test)]
mod tests {
    use super::roles_with;

    #[test]
    fn the_admin_role_is_added_and_removed_alone() {
        assert_eq!(roles_with("system_user", true), "system_user system_admin");
        assert_eq!(
            roles_with("system_admin system_user", true),
            "system_user system_admin"
        );
        assert_eq!(roles_with("system_user system_admin", false), "system_user");
        assert_eq!(
            roles_with("system_user system_post_all", true),
            "system_user system_post_all system_admin"
        );
    }
}
