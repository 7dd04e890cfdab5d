//! Who is connected to this node, and which of those connections an event is for.
//!
//! Only authenticated connections are ever registered, so unauthenticated sockets can never
//! receive an event. A parked connection stays registered (its queue keeps collecting) but
//! does not count as connected. This is the plain data structure; `presence` puts it behind
//! its locks.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use chorus_model::Broadcast;

use crate::connection::ConnectionHandle;
use crate::delegate::ConnectionIdentity;

/// Who an event is addressed to, by Mattermost's precedence: user, else channel, else team,
/// else everyone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Audience<'a> {
    User(&'a str),
    Channel(&'a str),
    Team(&'a str),
    Everyone,
}

impl<'a> Audience<'a> {
    pub(crate) fn of(broadcast: &'a Broadcast) -> Self {
        if !broadcast.user_id.is_empty() {
            Audience::User(&broadcast.user_id)
        } else if !broadcast.channel_id.is_empty() {
            Audience::Channel(&broadcast.channel_id)
        } else if !broadcast.team_id.is_empty() {
            Audience::Team(&broadcast.team_id)
        } else {
            Audience::Everyone
        }
    }
}

/// The registered connections of this node, indexed by user.
#[derive(Debug)]
pub(crate) struct Registry {
    by_user: HashMap<String, Vec<Arc<ConnectionHandle>>>,
    connection_count: usize,
    accepting: bool,
}

impl Registry {
    pub(crate) fn new() -> Self {
        Registry {
            by_user: HashMap::new(),
            connection_count: 0,
            accepting: true,
        }
    }

    pub(crate) fn is_accepting(&self) -> bool {
        self.accepting
    }

    /// Stops registering new connections and returns every registered one.
    pub(crate) fn stop_accepting(&mut self) -> Vec<Arc<ConnectionHandle>> {
        self.accepting = false;
        self.by_user.values().flatten().cloned().collect()
    }

    /// Adds a connection (with a socket); true when it is its user's first active one here.
    pub(crate) fn insert(&mut self, handle: Arc<ConnectionHandle>) -> bool {
        let user_id = handle.user_id().to_string();
        self.by_user
            .entry(user_id.clone())
            .or_default()
            .push(handle);
        self.connection_count += 1;
        self.user_connection_count(&user_id) == 1
    }

    /// Removes this very connection if it is still registered. Returns None when it was not
    /// (already removed), else whether its user has no active connection here any more
    /// because of it.
    pub(crate) fn remove(&mut self, handle: &Arc<ConnectionHandle>) -> Option<bool> {
        let connections = self.by_user.get_mut(handle.user_id())?;
        let position = connections
            .iter()
            .position(|other| Arc::ptr_eq(other, handle))?;
        connections.swap_remove(position);
        if connections.is_empty() {
            self.by_user.remove(handle.user_id());
        }
        if handle.is_parked() {
            return Some(false);
        }
        self.connection_count -= 1;
        Some(self.user_connection_count(handle.user_id()) == 0)
    }

    /// Parks a registered, active connection (its socket is gone; events still queue).
    /// Returns whether that was its user's last active connection here, None when the
    /// connection is not registered, already parked, or its queue was lost.
    pub(crate) fn park(&mut self, handle: &Arc<ConnectionHandle>) -> Option<bool> {
        if !self.contains(handle) || handle.is_parked() || !handle.queue().set_parked(true) {
            return None;
        }
        self.connection_count -= 1;
        Some(self.user_connection_count(handle.user_id()) == 0)
    }

    /// Makes a parked connection active again. Returns whether it is its user's first active
    /// connection here, None when it is not registered and parked, or its queue was lost.
    pub(crate) fn unpark(&mut self, handle: &Arc<ConnectionHandle>) -> Option<bool> {
        if !self.contains(handle) || !handle.is_parked() || !handle.queue().set_parked(false) {
            return None;
        }
        self.connection_count += 1;
        Some(self.user_connection_count(handle.user_id()) == 1)
    }

    fn contains(&self, handle: &Arc<ConnectionHandle>) -> bool {
        self.by_user
            .get(handle.user_id())
            .is_some_and(|connections| connections.iter().any(|other| Arc::ptr_eq(other, handle)))
    }

    /// Connections with a socket attached (parked ones are not counted).
    pub(crate) fn connection_count(&self) -> usize {
        self.connection_count
    }

    /// A user's connections with a socket attached.
    pub(crate) fn user_connection_count(&self, user_id: &str) -> usize {
        self.by_user.get(user_id).map_or(0, |connections| {
            connections
                .iter()
                .filter(|handle| !handle.is_parked())
                .count()
        })
    }

    /// Whether any of these users has a registered connection here, parked ones included.
    pub(crate) fn has_any_of(&self, user_ids: &HashSet<String>) -> bool {
        if user_ids.len() < self.by_user.len() {
            user_ids
                .iter()
                .any(|user_id| self.by_user.contains_key(user_id))
        } else {
            self.by_user
                .keys()
                .any(|user_id| user_ids.contains(user_id))
        }
    }

    /// The connections `connection_id` of the session of `identity` (parked or not): only that
    /// user's connections are looked at.
    pub(crate) fn session_connections<'a>(
        &'a self,
        identity: &'a ConnectionIdentity,
        connection_id: &'a str,
    ) -> impl Iterator<Item = &'a Arc<ConnectionHandle>> + 'a {
        self.by_user
            .get(&identity.user_id)
            .into_iter()
            .flatten()
            .filter(move |handle| handle.is_session_connection(identity, connection_id))
    }

    pub(crate) fn matching<'a>(
        &'a self,
        mut wanted: impl FnMut(&ConnectionHandle) -> bool + 'a,
    ) -> impl Iterator<Item = &'a Arc<ConnectionHandle>> + 'a {
        self.by_user
            .values()
            .flatten()
            .filter(move |handle| wanted(handle))
    }

    /// Calls `deliver` for every connection `broadcast` selects. `members` are the user ids of
    /// the channel or team for channel and team audiences (None → nobody); they are ignored
    /// for user and everyone audiences.
    pub(crate) fn for_each_recipient(
        &self,
        broadcast: &Broadcast,
        members: Option<&HashSet<String>>,
        mut deliver: impl FnMut(&Arc<ConnectionHandle>),
    ) {
        let mut deliver_if_wanted = |connections: &[Arc<ConnectionHandle>]| {
            for handle in connections {
                if is_wanted(broadcast, handle) {
                    deliver(handle);
                }
            }
        };
        match Audience::of(broadcast) {
            Audience::User(user_id) => {
                if let Some(connections) = self.by_user.get(user_id) {
                    deliver_if_wanted(connections);
                }
            }
            Audience::Channel(_) | Audience::Team(_) => {
                let Some(members) = members else { return };
                // Walk the smaller side: a big channel on a node with few users, or a node
                // with many users and a small channel.
                if members.len() <= self.by_user.len() {
                    for member in members {
                        if let Some(connections) = self.by_user.get(member) {
                            deliver_if_wanted(connections);
                        }
                    }
                } else {
                    for (user_id, connections) in &self.by_user {
                        if members.contains(user_id) {
                            deliver_if_wanted(connections);
                        }
                    }
                }
            }
            Audience::Everyone => {
                for connections in self.by_user.values() {
                    deliver_if_wanted(connections);
                }
            }
        }
    }
}

/// Whether an event with `broadcast` is for `handle`: its audience (`members` of the channel or
/// team, as for [`Registry::for_each_recipient`]) and the per-connection filters.
pub(crate) fn is_for(
    broadcast: &Broadcast,
    members: Option<&HashSet<String>>,
    handle: &ConnectionHandle,
) -> bool {
    let in_audience = match Audience::of(broadcast) {
        Audience::User(user_id) => user_id == handle.user_id(),
        Audience::Channel(_) | Audience::Team(_) => {
            members.is_some_and(|members| members.contains(handle.user_id()))
        }
        Audience::Everyone => true,
    };
    in_audience && is_wanted(broadcast, handle)
}

/// The per-connection filters every audience shares: the copy of an event for admins or for
/// everyone else, omitted users, an omitted connection, and an event meant for one connection
/// only.
fn is_wanted(broadcast: &Broadcast, handle: &ConnectionHandle) -> bool {
    if !broadcast.is_for_reader(handle.is_system_admin()) {
        return false;
    }
    if broadcast.omits(handle.user_id()) {
        return false;
    }
    if !broadcast.omit_connection_id.is_empty()
        && broadcast.omit_connection_id == handle.connection_id()
    {
        return false;
    }
    if !broadcast.connection_id.is_empty() && broadcast.connection_id != handle.connection_id() {
        return false;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity(user_id: &str) -> ConnectionIdentity {
        ConnectionIdentity {
            user_id: user_id.to_string(),
            session_id: format!("session-{user_id}"),
            session_token: format!("token-{user_id}"),
            expires_at: 0,
            is_system_admin: false,
        }
    }

    fn handle(connection_id: &str, user_id: &str) -> Arc<ConnectionHandle> {
        ConnectionHandle::new(connection_id.to_string(), identity(user_id), 8, 16)
    }

    /// A node with alice (two connections), bob and carol.
    fn registry() -> Registry {
        let mut registry = Registry::new();
        for (connection_id, user_id) in [
            ("a1", "alice"),
            ("a2", "alice"),
            ("b1", "bob"),
            ("c1", "carol"),
        ] {
            registry.insert(handle(connection_id, user_id));
        }
        registry
    }

    fn recipients(
        registry: &Registry,
        broadcast: &Broadcast,
        members: Option<&HashSet<String>>,
    ) -> Vec<String> {
        let mut connection_ids = Vec::new();
        registry.for_each_recipient(broadcast, members, |handle| {
            connection_ids.push(handle.connection_id().to_string())
        });
        connection_ids.sort();
        connection_ids
    }

    fn members(user_ids: &[&str]) -> HashSet<String> {
        user_ids.iter().map(|user_id| user_id.to_string()).collect()
    }

    #[test]
    fn user_broadcast_reaches_only_that_users_connections() {
        let registry = registry();
        assert_eq!(
            recipients(&registry, &Broadcast::to_user("alice"), None),
            ["a1", "a2"]
        );
        assert!(recipients(&registry, &Broadcast::to_user("nobody"), None).is_empty());
    }

    #[test]
    fn user_takes_precedence_over_channel_and_team() {
        let registry = registry();
        let broadcast = Broadcast {
            user_id: "bob".into(),
            channel_id: "town-square".into(),
            team_id: "team".into(),
            ..Default::default()
        };
        let everyone = members(&["alice", "bob", "carol"]);
        assert_eq!(recipients(&registry, &broadcast, Some(&everyone)), ["b1"]);
    }

    #[test]
    fn channel_broadcast_reaches_connected_members_either_way_round() {
        let registry = registry();
        let broadcast = Broadcast::to_channel("town-square");
        // Fewer members than connected users: walks the members.
        let small = members(&["alice"]);
        assert_eq!(
            recipients(&registry, &broadcast, Some(&small)),
            ["a1", "a2"]
        );
        // More members than connected users: walks the connected users.
        let large = members(&["bob", "carol", "dave", "erin", "frank"]);
        assert_eq!(
            recipients(&registry, &broadcast, Some(&large)),
            ["b1", "c1"]
        );
    }

    #[test]
    fn channel_or_team_without_members_reaches_nobody() {
        let registry = registry();
        assert!(recipients(&registry, &Broadcast::to_channel("gone"), None).is_empty());
        assert!(recipients(&registry, &Broadcast::to_team("gone"), None).is_empty());
    }

    #[test]
    fn team_broadcast_reaches_team_members() {
        let registry = registry();
        let team = members(&["bob", "carol"]);
        assert_eq!(
            recipients(&registry, &Broadcast::to_team("t"), Some(&team)),
            ["b1", "c1"]
        );
    }

    #[test]
    fn everyone_broadcast_reaches_all_connections() {
        let registry = registry();
        assert_eq!(
            recipients(&registry, &Broadcast::to_everyone(), None),
            ["a1", "a2", "b1", "c1"]
        );
    }

    #[test]
    fn omitted_users_and_connections_are_skipped() {
        let registry = registry();
        let broadcast = Broadcast::to_everyone().omitting("alice");
        assert_eq!(recipients(&registry, &broadcast, None), ["b1", "c1"]);

        let broadcast = Broadcast {
            omit_connection_id: "a1".into(),
            ..Broadcast::to_user("alice")
        };
        assert_eq!(recipients(&registry, &broadcast, None), ["a2"]);

        let typing = Broadcast::to_channel("town-square").omitting("bob");
        let everyone = members(&["alice", "bob", "carol"]);
        assert_eq!(
            recipients(&registry, &typing, Some(&everyone)),
            ["a1", "a2", "c1"]
        );
    }

    #[test]
    fn connection_id_targets_one_connection() {
        let registry = registry();
        let broadcast = Broadcast {
            connection_id: "a2".into(),
            ..Broadcast::to_user("alice")
        };
        assert_eq!(recipients(&registry, &broadcast, None), ["a2"]);
    }

    #[test]
    fn insert_and_remove_report_first_and_last_connection_of_a_user() {
        let mut registry = Registry::new();
        let first = handle("a1", "alice");
        let second = handle("a2", "alice");
        assert!(registry.insert(first.clone()));
        assert!(!registry.insert(second.clone()));
        assert_eq!(registry.connection_count(), 2);
        assert_eq!(registry.user_connection_count("alice"), 2);
        assert_eq!(registry.remove(&first), Some(false));
        assert_eq!(registry.remove(&first), None, "removing twice is a no-op");
        assert_eq!(registry.remove(&second), Some(true));
        assert_eq!(registry.connection_count(), 0);
        assert_eq!(registry.user_connection_count("alice"), 0);
    }

    #[test]
    fn stop_accepting_returns_every_connection() {
        let mut registry = registry();
        assert!(registry.is_accepting());
        assert_eq!(registry.stop_accepting().len(), 4);
        assert!(!registry.is_accepting());
    }

    #[test]
    fn parked_connections_still_receive_but_do_not_count_as_present() {
        let mut registry = Registry::new();
        let laptop = handle("a1", "alice");
        let phone = handle("a2", "alice");
        assert!(registry.insert(laptop.clone()));
        assert!(!registry.insert(phone.clone()));
        assert_eq!(registry.park(&laptop), Some(false));
        assert_eq!(registry.park(&laptop), None, "already parked");
        assert_eq!(registry.park(&phone), Some(true), "alice's last active one");
        assert_eq!(registry.connection_count(), 0);
        assert_eq!(registry.user_connection_count("alice"), 0);
        assert_eq!(
            recipients(&registry, &Broadcast::to_user("alice"), None),
            ["a1", "a2"]
        );
        assert_eq!(registry.unpark(&phone), Some(true));
        assert_eq!(
            registry.remove(&laptop),
            Some(false),
            "a parked one leaves quietly"
        );
        assert_eq!(registry.remove(&phone), Some(true));
    }
}
