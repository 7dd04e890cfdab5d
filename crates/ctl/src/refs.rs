//! How a command names things, as mmctl does: users by username, email or id; teams by name or
//! id; channels as `TEAM:CHANNEL` (team name or id, channel name) or a channel id.

use crate::client::{segment, Client};
use anyhow::{bail, Result};
use serde_json::Value;

/// A Mattermost id: 26 characters of lowercase base32.
pub fn looks_like_id(text: &str) -> bool {
    text.len() == 26
        && text
            .bytes()
            .all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit())
}

#[derive(Debug, PartialEq, Eq)]
pub enum ChannelRef {
    Named { team: String, channel: String },
    Id(String),
}

pub fn parse_channel(text: &str) -> Result<ChannelRef> {
    match text.split_once(':') {
        Some((team, channel)) => {
            if team.is_empty() || channel.is_empty() || channel.contains(':') {
                bail!("{text:?} is not TEAM:CHANNEL");
            }
            Ok(ChannelRef::Named {
                team: team.to_string(),
                channel: channel.to_string(),
            })
        }
        None if looks_like_id(text) => Ok(ChannelRef::Id(text.to_string())),
        None => bail!("channel {text:?} must be TEAM:CHANNEL or a channel id"),
    }
}

pub async fn user(client: &Client, text: &str) -> Result<Value> {
    let mut paths = Vec::new();
    if text.contains('@') {
        paths.push(format!("/users/email/{}", segment(text)));
    }
    if looks_like_id(text) {
        paths.push(format!("/users/{text}"));
    }
    paths.push(format!("/users/username/{}", segment(text)));
    for path in paths {
        if let Some(user) = client.get_if_found(&path).await? {
            return Ok(user);
        }
    }
    bail!("user {text:?} not found")
}

pub async fn team(client: &Client, text: &str) -> Result<Value> {
    if let Some(team) = client
        .get_if_found(&format!("/teams/name/{}", segment(text)))
        .await?
    {
        return Ok(team);
    }
    if looks_like_id(text) {
        if let Some(team) = client.get_if_found(&format!("/teams/{text}")).await? {
            return Ok(team);
        }
    }
    bail!("team {text:?} not found")
}

pub async fn channel(client: &Client, text: &str) -> Result<Value> {
    match parse_channel(text)? {
        ChannelRef::Id(id) => match client.get_if_found(&format!("/channels/{id}")).await? {
            Some(channel) => Ok(channel),
            None => bail!("channel {text:?} not found"),
        },
        ChannelRef::Named {
            team: team_name,
            channel,
        } => {
            let team = team(client, &team_name).await?;
            let path = format!(
                "/teams/{}/channels/name/{}?include_deleted=true",
                crate::output::text(&team, "id"),
                segment(&channel)
            );
            match client.get_if_found(&path).await? {
                Some(channel) => Ok(channel),
                None => bail!("channel {text:?} not found"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channels_are_team_colon_channel_or_an_id() {
        assert_eq!(
            parse_channel("myteam:town-square").unwrap(),
            ChannelRef::Named {
                team: "myteam".into(),
                channel: "town-square".into()
            }
        );
        assert_eq!(
            parse_channel("pd1grzpygznujjs5jwf1bdj8dc").unwrap(),
            ChannelRef::Id("pd1grzpygznujjs5jwf1bdj8dc".into())
        );
        for bad in ["town-square", ":x", "x:", "a:b:c", ""] {
            assert!(parse_channel(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn ids_are_26_lowercase_base32() {
        assert!(looks_like_id("pd1grzpygznujjs5jwf1bdj8dc"));
        assert!(!looks_like_id("Pd1grzpygznujjs5jwf1bdj8dc"));
        assert!(!looks_like_id("admin"));
    }
}
