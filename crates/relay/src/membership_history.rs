//! What a websocket whose node died missed of membership changes, read from the membership
//! history (`store::history`): the events the live path published for each join and leave
//! after the connection's horizon that the user would have received, and whether the user was
//! a member of a channel when one of its posts changed.
//!
//! Who receives what, as the live path sends it (`channels`, `teams`): `user_added` goes to
//! the channel's members, the added user included; `user_removed` to the remaining members
//! and, for a channel left on its own, to the removed user; `channel_created`, `direct_added`
//! and `group_added` to the users who opened the channel; `added_to_team` to the user who
//! joined; `leave_team` to the team's remaining members and to the user who left. A channel
//! event reaches the user while a member: joined at or before it, not left by then.

use crate::membership;
use crate::replay::{Order, Timed};
use chorus_model::{Channel, CHANNEL_DIRECT, CHANNEL_GROUP};
use chorus_store::history::{ChannelMembership, JoinedBy, LeftBy, TeamMembership};
use std::collections::{BTreeSet, HashMap};

/// The memberships of one user that lasted past a connection's horizon.
pub(crate) struct MembershipHistory {
    user_id: String,
    since: i64,
    channels: Vec<ChannelMembership>,
    teams: Vec<TeamMembership>,
}

impl MembershipHistory {
    pub(crate) fn new(
        user_id: &str,
        since: i64,
        channels: Vec<ChannelMembership>,
        teams: Vec<TeamMembership>,
    ) -> Self {
        MembershipHistory {
            user_id: user_id.to_string(),
            since,
            channels,
            teams,
        }
    }

    /// The channels the user belonged to at some time after the horizon.
    pub(crate) fn channel_ids(&self) -> Vec<String> {
        let ids: BTreeSet<&String> = self.channels.iter().map(|m| &m.channel_id).collect();
        ids.into_iter().cloned().collect()
    }

    /// The teams the user belonged to at some time after the horizon.
    pub(crate) fn team_ids(&self) -> Vec<String> {
        let ids: BTreeSet<&String> = self.teams.iter().map(|m| &m.team_id).collect();
        ids.into_iter().cloned().collect()
    }

    pub(crate) fn in_channel(&self, channel_id: &str, at: i64) -> bool {
        self.channels
            .iter()
            .any(|m| m.channel_id == channel_id && m.covers(at))
    }

    fn in_team(&self, team_id: &str, at: i64) -> bool {
        self.teams
            .iter()
            .any(|m| m.team_id == team_id && m.covers(at))
    }

    /// Whether the memberships the history says last until now are the user's memberships:
    /// not so when a node without the history (an older version, during a rolling upgrade)
    /// changed them, and then the history cannot be trusted for this user.
    pub(crate) fn agrees_with(&self, channel_ids: &[String], team_ids: &[String]) -> bool {
        let open_channels: BTreeSet<&str> = self
            .channels
            .iter()
            .filter(|m| m.left.is_none())
            .map(|m| m.channel_id.as_str())
            .collect();
        let open_teams: BTreeSet<&str> = self
            .teams
            .iter()
            .filter(|m| m.leave_time.is_none())
            .map(|m| m.team_id.as_str())
            .collect();
        open_channels == channel_ids.iter().map(String::as_str).collect()
            && open_teams == team_ids.iter().map(String::as_str).collect()
    }

    /// The channel membership events the user would have received: `changes` are the
    /// memberships of its channels that began or ended after the horizon, `channels` those
    /// channels. None when a channel is missing.
    pub(crate) fn channel_events(
        &self,
        changes: &[ChannelMembership],
        channels: &HashMap<String, Channel>,
    ) -> Option<Vec<Timed>> {
        let mut events = Vec::new();
        for change in changes {
            let channel = channels.get(&change.channel_id)?;
            let is_self = change.user_id == self.user_id;
            if change.join_time > self.since {
                let at = change.join_time;
                let joined = match change.joined_by {
                    JoinedBy::Added if self.in_channel(&channel.id, at) => Some(
                        membership::user_added(&channel.id, &channel.team_id, &change.user_id, at),
                    ),
                    JoinedBy::Created if is_self => Some(self.opened(channel, at, changes)),
                    _ => None,
                };
                events
                    .extend(joined.map(|event| Timed::new(at, Order::Joined, &channel.id, event)));
            }
            let Some((at, left_by, remover_id)) = &change.left else {
                continue;
            };
            let at = *at;
            if at <= self.since {
                continue;
            }
            let left = match left_by {
                LeftBy::Removed if is_self => Some(membership::removed_from_channel(
                    &channel.id,
                    &change.user_id,
                    remover_id,
                    at,
                )),
                LeftBy::Removed if self.in_channel(&channel.id, at) => Some(
                    membership::user_removed(&channel.id, &change.user_id, remover_id, at),
                ),
                LeftBy::LeftTeam if !is_self && self.in_channel(&channel.id, at) => {
                    Some(membership::user_removed_with_team(
                        &channel.id,
                        &change.user_id,
                        remover_id,
                        at,
                    ))
                }
                _ => None,
            };
            events.extend(left.map(|event| Timed::new(at, Order::Left, &channel.id, event)));
        }
        Some(events)
    }

    /// The event that told the user it opened `channel` at `at`.
    fn opened(
        &self,
        channel: &Channel,
        at: i64,
        changes: &[ChannelMembership],
    ) -> chorus_model::WebSocketEvent {
        let opened_with = || -> Vec<String> {
            let ids: BTreeSet<&String> = changes
                .iter()
                .filter(|m| m.channel_id == channel.id && m.joined_by == JoinedBy::Created)
                .map(|m| &m.user_id)
                .collect();
            ids.into_iter().cloned().collect()
        };
        match channel.channel_type.as_str() {
            CHANNEL_DIRECT => {
                let member_ids = opened_with();
                let teammate = membership::direct_teammate(&self.user_id, &member_ids);
                membership::direct_added(&self.user_id, teammate, &channel.id, at)
            }
            CHANNEL_GROUP => {
                membership::group_added(&self.user_id, &opened_with(), &channel.id, at)
            }
            _ => membership::channel_created(&self.user_id, &channel.id, &channel.team_id, at),
        }
    }

    /// The team membership events the user would have received: `changes` are the
    /// memberships of its teams that began or ended after the horizon.
    pub(crate) fn team_events(&self, changes: &[TeamMembership]) -> Vec<Timed> {
        let mut events = Vec::new();
        for change in changes {
            let is_self = change.user_id == self.user_id;
            if change.join_time > self.since && is_self {
                let at = change.join_time;
                let event = membership::added_to_team(&change.team_id, &change.user_id, at);
                events.push(Timed::new(at, Order::JoinedTeam, &change.team_id, event));
            }
            let Some(at) = change.leave_time.filter(|at| *at > self.since) else {
                continue;
            };
            let event = if is_self {
                membership::left_team(&change.team_id, &change.user_id, at)
            } else if self.in_team(&change.team_id, at) {
                membership::leave_team(&change.team_id, &change.user_id, at)
            } else {
                continue;
            };
            events.push(Timed::new(at, Order::LeftTeam, &change.team_id, event));
        }
        events
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chorus_model::{WebSocketEvent, CHANNEL_OPEN};
    use serde_json::Value;

    fn joined(channel_id: &str, user_id: &str, at: i64, by: JoinedBy) -> ChannelMembership {
        ChannelMembership {
            channel_id: channel_id.into(),
            user_id: user_id.into(),
            join_time: at,
            joined_by: by,
            left: None,
        }
    }

    fn left(mut membership: ChannelMembership, at: i64, by: LeftBy) -> ChannelMembership {
        membership.left = Some((at, by, "remover".into()));
        membership
    }

    fn channel(id: &str, channel_type: &str) -> (String, Channel) {
        let channel = Channel {
            id: id.into(),
            team_id: "team".into(),
            channel_type: channel_type.into(),
            ..Default::default()
        };
        (id.into(), channel)
    }

    /// `(event, broadcast channel/team/user, data user/channel, time)` of each event, in
    /// replay order.
    fn summary(mut events: Vec<Timed>) -> Vec<(String, String, i64)> {
        events.sort_by(|a, b| (a.at, a.order, &a.subject).cmp(&(b.at, b.order, &b.subject)));
        let text = |event: &WebSocketEvent, field: &str| {
            event
                .data
                .get(field)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        events
            .into_iter()
            .map(|timed| {
                let event = timed.event;
                let about = [
                    event.broadcast.channel_id.clone(),
                    event.broadcast.team_id.clone(),
                    event.broadcast.user_id.clone(),
                    text(&event, "user_id"),
                    text(&event, "channel_id"),
                ]
                .join("/");
                (event.event, about, timed.at)
            })
            .collect()
    }

    #[test]
    fn channel_events_reach_the_user_only_while_a_member() {
        let mine = vec![
            left(
                joined("c2", "me", 0, JoinedBy::Unknown),
                25,
                LeftBy::Removed,
            ),
            joined("c1", "me", 20, JoinedBy::Added),
        ];
        let history = MembershipHistory::new("me", 10, mine.clone(), Vec::new());
        let mut changes = mine;
        changes.extend([
            left(
                joined("c1", "other", 30, JoinedBy::Added),
                40,
                LeftBy::Removed,
            ),
            joined("c2", "other", 30, JoinedBy::Added),
            left(
                joined("c1", "third", 0, JoinedBy::Unknown),
                45,
                LeftBy::LeftTeam,
            ),
        ]);
        let channels = HashMap::from([channel("c1", CHANNEL_OPEN), channel("c2", CHANNEL_OPEN)]);
        let events = history.channel_events(&changes, &channels).unwrap();
        assert_eq!(
            summary(events),
            [
                ("user_added", "c1///me/", 20),
                ("user_removed", "//me//c2", 25),
                ("user_added", "c1///other/", 30),
                ("user_removed", "c1///other/", 40),
                ("user_removed", "c1///third/c1", 45),
            ]
            .map(|(name, about, at)| (name.to_string(), about.to_string(), at))
        );
        assert!(history.in_channel("c1", 20) && !history.in_channel("c1", 19));
        assert!(history.in_channel("c2", 24) && !history.in_channel("c2", 25));
        assert_eq!(history.channel_ids(), ["c1", "c2"]);
        assert!(history.agrees_with(&["c1".into()], &[]));
        assert!(!history.agrees_with(&["c1".into(), "c2".into()], &[]));
    }

    #[test]
    fn opening_a_channel_is_told_only_to_the_users_who_opened_it() {
        let mine = vec![
            joined("dm", "me", 20, JoinedBy::Created),
            joined("gm", "me", 30, JoinedBy::Created),
            joined("own", "me", 40, JoinedBy::Created),
        ];
        let history = MembershipHistory::new("me", 10, mine.clone(), Vec::new());
        let mut changes = mine;
        changes.extend([
            joined("dm", "you", 20, JoinedBy::Created),
            joined("gm", "you", 30, JoinedBy::Created),
            joined("gm", "zed", 30, JoinedBy::Created),
        ]);
        let channels = HashMap::from([
            channel("dm", CHANNEL_DIRECT),
            channel("gm", CHANNEL_GROUP),
            channel("own", CHANNEL_OPEN),
        ]);
        let events = history.channel_events(&changes, &channels).unwrap();
        let names: Vec<(&str, String)> = events
            .iter()
            .map(|timed| {
                let data = &timed.event.data;
                let teammates = data
                    .get("teammate_id")
                    .or(data.get("teammate_ids"))
                    .or(data.get("team_id"))
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string();
                (timed.event.event.as_str(), teammates)
            })
            .collect();
        assert_eq!(
            names,
            [
                ("direct_added", "you".to_string()),
                ("group_added", r#"["me","you","zed"]"#.to_string()),
                ("channel_created", "team".to_string()),
            ]
        );
        assert!(
            history.channel_events(&changes, &HashMap::new()).is_none(),
            "a channel that cannot be read cannot be rebuilt"
        );
    }

    #[test]
    fn team_events_go_to_the_user_who_joined_or_left_and_to_remaining_members() {
        let team = |user_id: &str, join_time: i64, leave_time: Option<i64>| TeamMembership {
            team_id: "t".into(),
            user_id: user_id.into(),
            join_time,
            leave_time,
        };
        let mine = vec![team("me", 20, Some(50))];
        let history = MembershipHistory::new("me", 10, Vec::new(), mine.clone());
        let mut changes = mine;
        changes.extend([
            team("other", 0, Some(15)),
            team("other", 30, Some(45)),
            team("late", 55, Some(60)),
        ]);
        let events = history.team_events(&changes);
        assert_eq!(
            summary(events),
            [
                ("added_to_team", "//me/me/", 20),
                ("leave_team", "/t//other/", 45),
                ("leave_team", "//me/me/", 50),
            ]
            .map(|(name, about, at)| (name.to_string(), about.to_string(), at))
        );
    }
}
