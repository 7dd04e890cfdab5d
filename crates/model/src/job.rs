//! Background jobs (Mattermost's `model.Job`): what the job server runs and the admin API lists.

use serde::{Deserialize, Deserializer, Serialize};
use std::collections::BTreeMap;

pub const JOB_STATUS_PENDING: &str = "pending";
pub const JOB_STATUS_IN_PROGRESS: &str = "in_progress";
pub const JOB_STATUS_SUCCESS: &str = "success";
pub const JOB_STATUS_ERROR: &str = "error";
pub const JOB_STATUS_CANCEL_REQUESTED: &str = "cancel_requested";
pub const JOB_STATUS_CANCELED: &str = "canceled";
pub const JOB_STATUS_WARNING: &str = "warning";

/// Permanently deletes posts (and their reactions) older than
/// DataRetentionSettings.MessageRetentionDays.
pub const JOB_TYPE_DATA_RETENTION: &str = "data_retention";
/// Deletes sessions past their expiry.
pub const JOB_TYPE_EXPIRED_SESSIONS: &str = "expired_sessions";
/// Deletes ClusterDiscovery rows of nodes that stopped pinging.
pub const JOB_TYPE_CLUSTER_DISCOVERY_CLEANUP: &str = "cluster_discovery_cleanup";

/// Every job type this version runs. A job of another type is refused at creation (a node one
/// version ahead may know more types; its jobs stay pending until a node that knows them claims
/// them, because workers only claim types they know).
pub const JOB_TYPES: [&str; 3] = [
    JOB_TYPE_DATA_RETENTION,
    JOB_TYPE_EXPIRED_SESSIONS,
    JOB_TYPE_CLUSTER_DISCOVERY_CLEANUP,
];

pub fn is_known_job_type(job_type: &str) -> bool {
    JOB_TYPES.contains(&job_type)
}

/// A job as clients see it. `data` is a map of strings, as in Mattermost (`StringMap`), so Go
/// clients can always decode it.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
#[serde(default)]
pub struct Job {
    pub id: String,
    #[serde(rename = "type")]
    pub job_type: String,
    pub priority: i64,
    pub create_at: i64,
    pub start_at: i64,
    pub last_activity_at: i64,
    pub status: String,
    pub progress: i64,
    #[serde(deserialize_with = "null_as_empty")]
    pub data: BTreeMap<String, String>,
}

impl Job {
    /// Finished one way or another: nothing will run it again.
    pub fn is_finished(&self) -> bool {
        matches!(
            self.status.as_str(),
            JOB_STATUS_SUCCESS | JOB_STATUS_ERROR | JOB_STATUS_CANCELED | JOB_STATUS_WARNING
        )
    }
}

/// Body of POST /api/v4/jobs.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default)]
pub struct JobRequest {
    #[serde(rename = "type")]
    pub job_type: String,
    #[serde(deserialize_with = "null_as_empty")]
    pub data: BTreeMap<String, String>,
}

fn null_as_empty<'de, D>(deserializer: D) -> Result<BTreeMap<String, String>, D::Error>
where
    D: Deserializer<'de>,
{
    Ok(Option::<BTreeMap<String, String>>::deserialize(deserializer)?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_json_has_mattermost_field_names() {
        let job = Job {
            id: "a".repeat(26),
            job_type: JOB_TYPE_DATA_RETENTION.into(),
            status: JOB_STATUS_PENDING.into(),
            ..Default::default()
        };
        let json = serde_json::to_value(&job).expect("serialises");
        for key in [
            "id",
            "type",
            "priority",
            "create_at",
            "start_at",
            "last_activity_at",
            "status",
            "progress",
            "data",
        ] {
            assert!(json.get(key).is_some(), "missing {key}");
        }
    }

    #[test]
    fn null_data_is_an_empty_map() {
        let request: JobRequest =
            serde_json::from_str(r#"{"type":"expired_sessions","data":null}"#).expect("parses");
        assert!(request.data.is_empty());
        assert!(serde_json::from_str::<JobRequest>(r#"{"type":"x","data":{"a":1}}"#).is_err());
    }
}
