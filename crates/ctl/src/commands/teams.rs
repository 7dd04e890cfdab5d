//! `team` and `channel`.

use super::{Context, Outcome};
use crate::cli::{ChannelCommand, ChannelUsersCommand, TeamCommand, TeamUsersCommand};
use crate::client::Client;
use crate::output::{done, print_json, text, yes_no, Report, Table};
use crate::refs;
use anyhow::{bail, Result};
use serde_json::{json, Value};

pub async fn team(context: &Context, command: TeamCommand) -> Result<Outcome> {
    let client = context.client()?;
    match command {
        TeamCommand::Create {
            name,
            display_name,
            private,
            email,
        } => {
            let mut body = json!({
                "name": name,
                "display_name": display_name,
                "type": if private { "I" } else { "O" },
            });
            if let Some(email) = email {
                body["email"] = email.into();
            }
            let team = client.post("/teams", &body).await?;
            if context.json {
                print_json(&team);
            } else {
                println!(
                    "created team {} ({})",
                    text(&team, "name"),
                    text(&team, "id")
                );
            }
        }
        TeamCommand::List => {
            let teams = all_pages(&client, "/teams?include_total_count=false").await?;
            if context.json {
                print_json(&Value::Array(teams));
            } else {
                let mut table = Table::new(&["ID", "NAME", "DISPLAY NAME", "TYPE", "ARCHIVED"]);
                for team in &teams {
                    table.row(vec![
                        text(team, "id"),
                        text(team, "name"),
                        text(team, "display_name"),
                        if text(team, "type") == "I" {
                            "private"
                        } else {
                            "open"
                        }
                        .to_string(),
                        yes_no(archived(team)),
                    ]);
                }
                print!("{}", table.render());
            }
        }
        TeamCommand::Archive { teams } => {
            let mut report = Report::new(context.json);
            for name in &teams {
                let team = refs::team(&client, name).await?;
                let answer = client
                    .delete(&format!("/teams/{}", text(&team, "id")))
                    .await?;
                report.done(answer, format!("archived team {}", text(&team, "name")));
            }
            report.finish();
        }
        TeamCommand::Restore { teams } => {
            let mut report = Report::new(context.json);
            for name in &teams {
                let team = refs::team(&client, name).await?;
                let answer = client
                    .post(&format!("/teams/{}/restore", text(&team, "id")), &json!({}))
                    .await?;
                report.done(answer, format!("restored team {}", text(&team, "name")));
            }
            report.finish();
        }
        TeamCommand::Search { terms } => {
            let mut found: Vec<Value> = Vec::new();
            for term in &terms {
                let teams = client.post("/teams/search", &json!({"term": term})).await?;
                for team in teams.as_array().into_iter().flatten() {
                    if !found.iter().any(|seen| seen["id"] == team["id"]) {
                        found.push(team.clone());
                    }
                }
            }
            if context.json {
                print_json(&Value::Array(found));
            } else {
                for team in &found {
                    println!(
                        "{}: {} ({})",
                        text(team, "id"),
                        text(team, "name"),
                        text(team, "display_name")
                    );
                }
            }
        }
        TeamCommand::Rename { team, display_name } => {
            let found = refs::team(&client, &team).await?;
            let patched = client
                .put(
                    &format!("/teams/{}/patch", text(&found, "id")),
                    &json!({"display_name": display_name}),
                )
                .await?;
            if context.json {
                print_json(&patched);
            } else {
                println!(
                    "team {} is now {:?}",
                    text(&found, "name"),
                    text(&patched, "display_name")
                );
            }
        }
        TeamCommand::Users(TeamUsersCommand::Add { team, users }) => {
            let team = refs::team(&client, &team).await?;
            let team_id = text(&team, "id");
            let bar = crate::progress::bar(users.len() as u64, "adding users");
            let mut members = Vec::new();
            for name in &users {
                let user = refs::user(&client, name).await?;
                let user_id = text(&user, "id");
                let member = client
                    .post(
                        &format!("/teams/{team_id}/members"),
                        &json!({"team_id": team_id, "user_id": user_id}),
                    )
                    .await?;
                members.push(member);
                bar.inc(1);
            }
            bar.finish_and_clear();
            let message = format!(
                "added {} users to team {}",
                users.len(),
                text(&team, "name")
            );
            done(context.json, &Value::Array(members), message);
        }
        TeamCommand::Users(TeamUsersCommand::Remove { team, users }) => {
            let team = refs::team(&client, &team).await?;
            let team_id = text(&team, "id");
            let bar = crate::progress::bar(users.len() as u64, "removing users");
            let mut answers = Vec::new();
            for name in &users {
                let user = refs::user(&client, name).await?;
                let answer = client
                    .delete(&format!("/teams/{team_id}/members/{}", text(&user, "id")))
                    .await?;
                answers.push(answer);
                bar.inc(1);
            }
            bar.finish_and_clear();
            let message = format!(
                "removed {} users from team {}",
                users.len(),
                text(&team, "name")
            );
            done(context.json, &Value::Array(answers), message);
        }
    }
    Ok(Outcome::Success)
}

fn archived(value: &Value) -> bool {
    value.get("delete_at").and_then(Value::as_i64).unwrap_or(0) != 0
}

/// Every page of a listing, 200 at a time.
async fn all_pages(client: &Client, path: &str) -> Result<Vec<Value>> {
    let separator = if path.contains('?') { '&' } else { '?' };
    let mut items = Vec::new();
    for page in 0.. {
        let batch = client
            .get(&format!("{path}{separator}page={page}&per_page=200"))
            .await?;
        let batch = batch.as_array().cloned().unwrap_or_default();
        let done = batch.len() < 200;
        items.extend(batch);
        if done {
            break;
        }
    }
    Ok(items)
}

pub async fn channel(context: &Context, command: ChannelCommand) -> Result<Outcome> {
    let client = context.client()?;
    match command {
        ChannelCommand::Create {
            team,
            name,
            display_name,
            private,
            purpose,
            header,
        } => {
            let team = refs::team(&client, &team).await?;
            let channel = client
                .post(
                    "/channels",
                    &json!({
                        "team_id": text(&team, "id"),
                        "name": name,
                        "display_name": display_name,
                        "type": if private { "P" } else { "O" },
                        "purpose": purpose.unwrap_or_default(),
                        "header": header.unwrap_or_default(),
                    }),
                )
                .await?;
            if context.json {
                print_json(&channel);
            } else {
                println!(
                    "created channel {}:{} ({})",
                    text(&team, "name"),
                    text(&channel, "name"),
                    text(&channel, "id")
                );
            }
        }
        ChannelCommand::List { teams } => {
            let mut listing = Vec::new();
            for name in &teams {
                let team = refs::team(&client, name).await?;
                let team_id = text(&team, "id");
                // GET /channels (system admins) holds public, private and archived channels of
                // every team: keep this team's.
                for channel in all_pages(&client, "/channels?include_deleted=true").await? {
                    if text(&channel, "team_id") == team_id {
                        listing.push((text(&team, "name"), channel));
                    }
                }
            }
            if context.json {
                print_json(&Value::Array(
                    listing.into_iter().map(|(_, channel)| channel).collect(),
                ));
            } else {
                let mut table = Table::new(&["ID", "CHANNEL", "DISPLAY NAME", "TYPE", "ARCHIVED"]);
                for (team_name, channel) in &listing {
                    table.row(vec![
                        text(channel, "id"),
                        format!("{team_name}:{}", text(channel, "name")),
                        text(channel, "display_name"),
                        if text(channel, "type") == "P" {
                            "private"
                        } else {
                            "public"
                        }
                        .to_string(),
                        yes_no(archived(channel)),
                    ]);
                }
                print!("{}", table.render());
            }
        }
        ChannelCommand::Archive { channels } => {
            let mut report = Report::new(context.json);
            for name in &channels {
                let channel = refs::channel(&client, name).await?;
                if archived(&channel) {
                    bail!("channel {name} is already archived");
                }
                let answer = client
                    .delete(&format!("/channels/{}", text(&channel, "id")))
                    .await?;
                report.done(answer, format!("archived channel {name}"));
            }
            report.finish();
        }
        ChannelCommand::Unarchive { channels } => {
            let mut report = Report::new(context.json);
            for name in &channels {
                let channel = refs::channel(&client, name).await?;
                let answer = client
                    .post(
                        &format!("/channels/{}/restore", text(&channel, "id")),
                        &json!({}),
                    )
                    .await?;
                report.done(answer, format!("restored channel {name}"));
            }
            report.finish();
        }
        ChannelCommand::Rename {
            channel,
            name,
            display_name,
        } => {
            if name.is_none() && display_name.is_none() {
                bail!("give --name, --display-name or both");
            }
            let found = refs::channel(&client, &channel).await?;
            let mut patch = json!({});
            if let Some(name) = name {
                patch["name"] = name.into();
            }
            if let Some(display_name) = display_name {
                patch["display_name"] = display_name.into();
            }
            let patched = client
                .put(&format!("/channels/{}/patch", text(&found, "id")), &patch)
                .await?;
            if context.json {
                print_json(&patched);
            } else {
                println!(
                    "channel {channel} is now {} ({:?})",
                    text(&patched, "name"),
                    text(&patched, "display_name")
                );
            }
        }
        ChannelCommand::Modify {
            channel, private, ..
        } => {
            let found = refs::channel(&client, &channel).await?;
            let privacy = if private { "P" } else { "O" };
            let changed = client
                .put(
                    &format!("/channels/{}/privacy", text(&found, "id")),
                    &json!({"privacy": privacy}),
                )
                .await?;
            if context.json {
                print_json(&changed);
            } else {
                let kind = if private { "private" } else { "public" };
                println!("channel {channel} is now {kind}");
            }
        }
        ChannelCommand::Search { name, team } => {
            let teams = match team {
                Some(team) => vec![refs::team(&client, &team).await?],
                None => all_pages(&client, "/teams?include_total_count=false").await?,
            };
            let mut found = Vec::new();
            for team in &teams {
                let path = format!(
                    "/teams/{}/channels/name/{}?include_deleted=true",
                    text(team, "id"),
                    crate::client::segment(&name)
                );
                if let Some(channel) = client.get_if_found(&path).await? {
                    found.push((text(team, "name"), channel));
                }
            }
            if found.is_empty() {
                bail!("channel {name:?} not found");
            }
            if context.json {
                print_json(&Value::Array(
                    found.into_iter().map(|(_, channel)| channel).collect(),
                ));
            } else {
                for (team_name, channel) in &found {
                    println!(
                        "{}: {team_name}:{} ({})",
                        text(channel, "id"),
                        text(channel, "name"),
                        text(channel, "display_name")
                    );
                }
            }
        }
        ChannelCommand::Users(ChannelUsersCommand::Add { channel, users }) => {
            let resolved = refs::channel(&client, &channel).await?;
            let channel_id = text(&resolved, "id");
            let bar = crate::progress::bar(users.len() as u64, "adding users");
            let mut members = Vec::new();
            for name in &users {
                let user = refs::user(&client, name).await?;
                let member = client
                    .post(
                        &format!("/channels/{channel_id}/members"),
                        &json!({"user_id": text(&user, "id")}),
                    )
                    .await?;
                members.push(member);
                bar.inc(1);
            }
            bar.finish_and_clear();
            let message = format!("added {} users to channel {channel}", users.len());
            done(context.json, &Value::Array(members), message);
        }
        ChannelCommand::Users(ChannelUsersCommand::Remove { channel, users }) => {
            let resolved = refs::channel(&client, &channel).await?;
            let channel_id = text(&resolved, "id");
            let mut answers = Vec::new();
            for name in &users {
                let user = refs::user(&client, name).await?;
                let answer = client
                    .delete(&format!(
                        "/channels/{channel_id}/members/{}",
                        text(&user, "id")
                    ))
                    .await?;
                answers.push(answer);
            }
            let message = format!("removed {} users from channel {channel}", users.len());
            done(context.json, &Value::Array(answers), message);
        }
    }
    Ok(Outcome::Success)
}
