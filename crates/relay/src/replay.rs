//! Where a rebuilt event goes in a replay: shared by the rebuild (`rebuild`) and the
//! membership history that produces some of its events (`membership_history`).

use chorus_model::WebSocketEvent;

/// Where a rebuilt event goes among those of the same millisecond: the order in which the
/// live path publishes the events of one change (`added_to_team` before the `user_added` of
/// the team's channels, their `user_removed` before `leave_team`), joins before and leaves
/// after the posts of that millisecond.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Order {
    JoinedTeam,
    Joined,
    Posted,
    Edited,
    Reacted,
    Deleted,
    Left,
    LeftTeam,
}

/// A rebuilt event with its place in the replay: the time the database recorded its change,
/// its [`Order`], then the channel or team it concerns.
pub(crate) struct Timed {
    pub(crate) at: i64,
    pub(crate) order: Order,
    pub(crate) subject: String,
    pub(crate) event: WebSocketEvent,
}

impl Timed {
    pub(crate) fn new(at: i64, order: Order, subject: &str, event: WebSocketEvent) -> Self {
        Timed {
            at,
            order,
            subject: subject.to_string(),
            event,
        }
    }
}
