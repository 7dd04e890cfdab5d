//! `post`.

use super::{Context, Outcome};
use crate::cli::PostCommand;
use crate::output::{print_json, text, Report};
use crate::refs;
use anyhow::Result;
use serde_json::{json, Value};
use std::collections::HashMap;

pub async fn run(context: &Context, command: PostCommand) -> Result<Outcome> {
    let client = context.client()?;
    match command {
        PostCommand::Create {
            channel,
            message,
            reply_to,
        } => {
            let resolved = refs::channel(&client, &channel).await?;
            let mut body = json!({"channel_id": text(&resolved, "id"), "message": message});
            if let Some(root_id) = reply_to {
                body["root_id"] = root_id.into();
            }
            let post = client.post("/posts", &body).await?;
            if context.json {
                print_json(&post);
            } else {
                println!("posted {} to {channel}", text(&post, "id"));
            }
        }
        PostCommand::Delete { post_ids } => {
            let mut report = Report::new(context.json);
            for post_id in &post_ids {
                let answer = client.delete(&format!("/posts/{post_id}")).await?;
                report.done(answer, format!("deleted post {post_id}"));
            }
            report.finish();
        }
        PostCommand::List {
            channel,
            number,
            show_ids,
        } => {
            let resolved = refs::channel(&client, &channel).await?;
            let list = client
                .get(&format!(
                    "/channels/{}/posts?page=0&per_page={}",
                    text(&resolved, "id"),
                    number.clamp(1, 200)
                ))
                .await?;
            // `order` is newest first; print oldest first, as a chat reads.
            let order: Vec<String> = list
                .get("order")
                .and_then(Value::as_array)
                .map(|ids| {
                    ids.iter()
                        .filter_map(|id| id.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            let posts: Vec<Value> = order
                .iter()
                .rev()
                .filter_map(|id| list.get("posts").and_then(|posts| posts.get(id)).cloned())
                .collect();
            if context.json {
                print_json(&Value::Array(posts));
                return Ok(Outcome::Success);
            }
            let mut user_ids: Vec<String> =
                posts.iter().map(|post| text(post, "user_id")).collect();
            user_ids.sort();
            user_ids.dedup();
            let users = client.post("/users/ids", &json!(user_ids)).await?;
            let usernames: HashMap<String, String> = users
                .as_array()
                .into_iter()
                .flatten()
                .map(|user| (text(user, "id"), text(user, "username")))
                .collect();
            for post in &posts {
                let user_id = text(post, "user_id");
                let username = usernames.get(&user_id).unwrap_or(&user_id);
                if show_ids {
                    println!(
                        "{}  [{username}] {}",
                        text(post, "id"),
                        text(post, "message")
                    );
                } else {
                    println!("[{username}] {}", text(post, "message"));
                }
            }
        }
    }
    Ok(Outcome::Success)
}
