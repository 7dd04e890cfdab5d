//! `token`: users' personal access tokens, for `auth login --access-token` and bots.

use super::{Context, Outcome};
use crate::cli::TokenCommand;
use crate::output::{print_json, text, yes_no, Report, Table};
use crate::refs;
use anyhow::Result;
use serde_json::{json, Value};

pub async fn run(context: &Context, command: TokenCommand) -> Result<Outcome> {
    let client = context.client()?;
    match command {
        TokenCommand::Generate { user, description } => {
            let found = refs::user(&client, &user).await?;
            let token = client
                .post(
                    &format!("/users/{}/tokens", text(&found, "id")),
                    &json!({"description": description}),
                )
                .await?;
            if context.json {
                print_json(&token);
            } else {
                // The secret is shown once, here.
                println!("{}: {}", text(&token, "token"), text(&token, "description"));
            }
        }
        TokenCommand::List { user } => {
            let found = refs::user(&client, &user).await?;
            let tokens = client
                .get(&format!(
                    "/users/{}/tokens?page=0&per_page=200",
                    text(&found, "id")
                ))
                .await?;
            if context.json {
                print_json(&tokens);
            } else {
                let mut table = Table::new(&["ID", "DESCRIPTION", "ACTIVE"]);
                for token in tokens.as_array().into_iter().flatten() {
                    table.row(vec![
                        text(token, "id"),
                        text(token, "description"),
                        yes_no(token.get("is_active") == Some(&Value::Bool(true))),
                    ]);
                }
                print!("{}", table.render());
            }
        }
        TokenCommand::Revoke { token_ids } => {
            let mut report = Report::new(context.json);
            for token_id in &token_ids {
                let answer = client
                    .post("/users/tokens/revoke", &json!({"token_id": token_id}))
                    .await?;
                report.done(answer, format!("revoked token {token_id}"));
            }
            report.finish();
        }
    }
    Ok(Outcome::Success)
}
