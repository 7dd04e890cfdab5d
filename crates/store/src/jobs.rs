//! The Jobs table, and the SQL of data retention (the other recurring jobs call `sessions` and
//! `cluster`).
//!
//! Job timestamps (`createat`, `startat`, `lastactivityat`) come from the database clock, so
//! "this worker has been silent for 30 s" means the same on every node whatever their clocks say.
//! A claimed job carries its worker's node id and an attempt number; every update a worker makes
//! names both, so a worker presumed dead (and whose job was handed to someone else) can no longer
//! change it.

use crate::leader::LeaseFence;
use crate::{one, GenericClient, Record, StoreResult};
use chorus_model::{
    Job, JOB_STATUS_CANCELED, JOB_STATUS_CANCEL_REQUESTED, JOB_STATUS_IN_PROGRESS,
    JOB_STATUS_PENDING,
};
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Duration;
use tokio_postgres::Row;

const JOB_COLUMNS: &str =
    "id, type, priority, createat, startat, lastactivityat, status, progress, data, attempt";

/// The database clock in milliseconds since the epoch.
const DB_NOW_MILLIS: &str = "(extract(epoch FROM clock_timestamp()) * 1000)::bigint";

fn job_from_row(row: &Row) -> Job {
    Job {
        id: row.get("id"),
        job_type: row.get("type"),
        priority: row.get("priority"),
        create_at: row.get("createat"),
        start_at: row.get("startat"),
        last_activity_at: row.get("lastactivityat"),
        status: row.get("status"),
        progress: row.get("progress"),
        data: string_map(row.get("data")),
    }
}

fn string_map(value: Value) -> BTreeMap<String, String> {
    let mut map = BTreeMap::new();
    if let Value::Object(object) = value {
        for (key, value) in object {
            let text = match value {
                Value::String(text) => text,
                other => other.to_string(),
            };
            map.insert(key, text);
        }
    }
    map
}

fn json_of(data: &BTreeMap<String, String>) -> Value {
    Value::Object(
        data.iter()
            .map(|(key, value)| (key.clone(), Value::String(value.clone())))
            .collect(),
    )
}

fn millis(duration: Duration) -> i64 {
    duration.as_millis().min(i64::MAX as u128) as i64
}

/// Creates a pending job (POST /api/v4/jobs).
pub async fn insert(
    db: &impl GenericClient,
    id: &str,
    job_type: &str,
    data: &BTreeMap<String, String>,
) -> StoreResult<Job> {
    let sql = format!(
        "INSERT INTO jobs (id, type, priority, createat, status, progress, data) \
         VALUES ($1, $2, 0, {DB_NOW_MILLIS}, '{JOB_STATUS_PENDING}', 0, $3) RETURNING {JOB_COLUMNS}"
    );
    let row = db
        .query_one(&sql, &[&id, &job_type, &json_of(data)])
        .await?;
    Ok(job_from_row(&row))
}

/// When a recurring job type runs: once per `period`, periods starting `offset` after the epoch
/// (a daily job at 02:00 UTC is `period` 24 h, `offset` 2 h).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    pub period: Duration,
    pub offset: Duration,
}

/// Creates the job of the current schedule period for `job_type`, unless that period already has
/// its job, a job of that type is still pending or running, or `fence` no longer holds (the
/// caller stopped being leader; None writes unfenced, for a node without clustering). Returns
/// the job when one was created.
///
/// The period number is computed from the database clock and stored in `scheduleslot`, unique
/// per type: a new leader that runs the same check a moment after the old one finds the row and
/// creates nothing ("no double scheduling"), whatever the two nodes' clocks say.
pub async fn create_scheduled(
    db: &impl GenericClient,
    id: &str,
    job_type: &str,
    schedule: Schedule,
    data: &BTreeMap<String, String>,
    fence: Option<&LeaseFence>,
) -> StoreResult<Option<Job>> {
    debug_assert!(!schedule.period.is_zero(), "a schedule needs a period");
    let sql = format!(
        "WITH clock AS (SELECT {DB_NOW_MILLIS} AS now_ms) \
         INSERT INTO jobs (id, type, priority, createat, status, progress, data, scheduleslot) \
         SELECT $1::varchar, $2::varchar, 0, clock.now_ms, '{JOB_STATUS_PENDING}', 0, $3::jsonb, \
                (clock.now_ms - $4::bigint) / $5::bigint \
         FROM clock \
         WHERE ($6::text IS NULL OR EXISTS (SELECT 1 FROM leaderlease WHERE name = $6 \
                AND holdernodeid = $7 AND term = $8 AND expiresat > now())) \
           AND NOT EXISTS (SELECT 1 FROM jobs WHERE type = $2::varchar AND status IN \
                ('{JOB_STATUS_PENDING}', '{JOB_STATUS_IN_PROGRESS}', '{JOB_STATUS_CANCEL_REQUESTED}')) \
         ON CONFLICT (type, scheduleslot) WHERE scheduleslot IS NOT NULL DO NOTHING \
         RETURNING {JOB_COLUMNS}"
    );
    let period_ms = millis(schedule.period).max(1);
    let offset_ms = millis(schedule.offset);
    let lease_name = fence.map(|fence| fence.lease_name.as_str());
    let holder = fence.map(|fence| fence.node_id.as_str());
    let term = fence.map(|fence| fence.term);
    let row = db
        .query_opt(
            &sql,
            &[
                &id,
                &job_type,
                &json_of(data),
                &offset_ms,
                &period_ms,
                &lease_name,
                &holder,
                &term,
            ],
        )
        .await?;
    Ok(row.as_ref().map(job_from_row))
}

/// Who runs (or last ran) a job and how: what the Job JSON does not show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobRun {
    pub worker_node_id: String,
    /// How many times it was claimed.
    pub attempt: i32,
    /// The schedule period of a recurring job; None for jobs created on demand.
    pub schedule_slot: Option<i64>,
}

pub async fn run_info(db: &impl GenericClient, job_id: &str) -> StoreResult<JobRun> {
    let row = db
        .query_opt(
            "SELECT workernodeid, attempt, scheduleslot FROM jobs WHERE id = $1",
            &[&job_id],
        )
        .await?;
    one(row, Record::Job).map(|row| JobRun {
        worker_node_id: row.get(0),
        attempt: row.get(1),
        schedule_slot: row.get(2),
    })
}

pub async fn get(db: &impl GenericClient, job_id: &str) -> StoreResult<Job> {
    let sql = format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = $1");
    let row = db.query_opt(&sql, &[&job_id]).await?;
    one(row.as_ref().map(job_from_row), Record::Job)
}

/// Newest first; `job_type` and `status` narrow the list when given.
pub async fn list(
    db: &impl GenericClient,
    job_type: Option<&str>,
    status: Option<&str>,
    offset: i64,
    limit: i64,
) -> StoreResult<Vec<Job>> {
    let sql = format!(
        "SELECT {JOB_COLUMNS} FROM jobs WHERE ($1::text IS NULL OR type = $1) \
         AND ($2::text IS NULL OR status = $2) \
         ORDER BY createat DESC, id DESC OFFSET $3 LIMIT $4"
    );
    let rows = db
        .query(&sql, &[&job_type, &status, &offset, &limit])
        .await?;
    Ok(rows.iter().map(job_from_row).collect())
}

/// A job this node now runs: `attempt` names this claim in every later update.
#[derive(Debug, Clone)]
pub struct ClaimedJob {
    pub job: Job,
    pub attempt: i32,
}

/// Claims the oldest pending job of one of `job_types` for `node_id`, atomically: concurrent
/// claimers skip rows another has locked, so each job goes to exactly one worker.
pub async fn claim_next(
    db: &impl GenericClient,
    node_id: &str,
    job_types: &[&str],
) -> StoreResult<Option<ClaimedJob>> {
    let sql = format!(
        "UPDATE jobs SET status = '{JOB_STATUS_IN_PROGRESS}', startat = {DB_NOW_MILLIS}, \
         lastactivityat = {DB_NOW_MILLIS}, workernodeid = $1, attempt = attempt + 1 \
         WHERE id = (SELECT id FROM jobs WHERE status = '{JOB_STATUS_PENDING}' AND type = ANY($2) \
                     ORDER BY priority DESC, createat, id LIMIT 1 FOR UPDATE SKIP LOCKED) \
         RETURNING {JOB_COLUMNS}"
    );
    let job_types: Vec<&str> = job_types.to_vec();
    let row = db.query_opt(&sql, &[&node_id, &job_types]).await?;
    Ok(row.as_ref().map(|row| ClaimedJob {
        job: job_from_row(row),
        attempt: row.get("attempt"),
    }))
}

/// Marks a running job alive, optionally with new progress. Returns its status
/// (`cancel_requested` tells the worker to stop), or None when the job is no longer this
/// worker's (it was presumed dead and handed over, or it finished).
pub async fn heartbeat(
    db: &impl GenericClient,
    job_id: &str,
    node_id: &str,
    attempt: i32,
    progress: Option<i64>,
) -> StoreResult<Option<String>> {
    let sql = format!(
        "UPDATE jobs SET lastactivityat = {DB_NOW_MILLIS}, progress = COALESCE($4, progress) \
         WHERE id = $1 AND workernodeid = $2 AND attempt = $3 \
         AND status IN ('{JOB_STATUS_IN_PROGRESS}', '{JOB_STATUS_CANCEL_REQUESTED}') \
         RETURNING status"
    );
    let progress = progress.map(|value| value.clamp(0, 100));
    let row = db
        .query_opt(&sql, &[&job_id, &node_id, &attempt, &progress])
        .await?;
    Ok(row.map(|row| row.get(0)))
}

/// Ends a running job with `status` (success, error, warning, canceled); `data` entries are
/// merged into the job's data. False when the job was no longer this worker's.
pub async fn finish(
    db: &impl GenericClient,
    job_id: &str,
    node_id: &str,
    attempt: i32,
    status: &str,
    progress: Option<i64>,
    data: &BTreeMap<String, String>,
) -> StoreResult<bool> {
    let sql = format!(
        "UPDATE jobs SET status = $4, lastactivityat = {DB_NOW_MILLIS}, \
         progress = COALESCE($5, progress), data = data || $6 \
         WHERE id = $1 AND workernodeid = $2 AND attempt = $3 \
         AND status IN ('{JOB_STATUS_IN_PROGRESS}', '{JOB_STATUS_CANCEL_REQUESTED}')"
    );
    let progress = progress.map(|value| value.clamp(0, 100));
    let updated = db
        .execute(
            &sql,
            &[
                &job_id,
                &node_id,
                &attempt,
                &status,
                &progress,
                &json_of(data),
            ],
        )
        .await?;
    Ok(updated == 1)
}

/// Hands a running job back (its node is shutting down): pending again for any worker, or
/// canceled if a cancellation was requested meanwhile.
pub async fn give_back(
    db: &impl GenericClient,
    job_id: &str,
    node_id: &str,
    attempt: i32,
) -> StoreResult<bool> {
    let sql = format!(
        "UPDATE jobs SET status = CASE status WHEN '{JOB_STATUS_CANCEL_REQUESTED}' \
         THEN '{JOB_STATUS_CANCELED}' ELSE '{JOB_STATUS_PENDING}' END, \
         workernodeid = '', lastactivityat = {DB_NOW_MILLIS} \
         WHERE id = $1 AND workernodeid = $2 AND attempt = $3 \
         AND status IN ('{JOB_STATUS_IN_PROGRESS}', '{JOB_STATUS_CANCEL_REQUESTED}')"
    );
    Ok(db.execute(&sql, &[&job_id, &node_id, &attempt]).await? == 1)
}

/// What became of a job whose worker went silent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecoveredJob {
    pub id: String,
    pub job_type: String,
    pub previous_worker: String,
    /// `pending` (will run again), `error` (gave up after `max_attempts`) or `canceled`.
    pub status: String,
}

/// Jobs whose worker has not reported for `silent_for` are presumed orphaned (the node died or
/// was cut off): they go back to pending, or to error after `max_attempts` claims (a job that
/// kills its workers must not take the cluster down one node at a time), or to canceled if
/// that was requested.
pub async fn recover_orphaned(
    db: &impl GenericClient,
    silent_for: Duration,
    max_attempts: i32,
) -> StoreResult<Vec<RecoveredJob>> {
    let sql = format!(
        "WITH orphaned AS ( \
           SELECT id, workernodeid FROM jobs \
           WHERE status IN ('{JOB_STATUS_IN_PROGRESS}', '{JOB_STATUS_CANCEL_REQUESTED}') \
           AND lastactivityat < {DB_NOW_MILLIS} - $1::bigint FOR UPDATE SKIP LOCKED) \
         UPDATE jobs SET \
           status = CASE WHEN jobs.status = '{JOB_STATUS_CANCEL_REQUESTED}' THEN '{JOB_STATUS_CANCELED}' \
                         WHEN jobs.attempt >= $2 THEN 'error' ELSE '{JOB_STATUS_PENDING}' END, \
           data = CASE WHEN jobs.status <> '{JOB_STATUS_CANCEL_REQUESTED}' AND jobs.attempt >= $2 \
                       THEN jobs.data || jsonb_build_object('error', \
                            'worker stopped reporting ' || jobs.attempt || ' times, giving up') \
                       ELSE jobs.data END, \
           workernodeid = '', lastactivityat = {DB_NOW_MILLIS} \
         FROM orphaned WHERE jobs.id = orphaned.id \
         RETURNING jobs.id, jobs.type, orphaned.workernodeid, jobs.status"
    );
    let rows = db
        .query(&sql, &[&millis(silent_for), &max_attempts])
        .await?;
    Ok(rows
        .iter()
        .map(|row| RecoveredJob {
            id: row.get(0),
            job_type: row.get(1),
            previous_worker: row.get(2),
            status: row.get(3),
        })
        .collect())
}

/// What a cancellation request did.
#[derive(Debug, Clone, PartialEq)]
pub enum Cancellation {
    /// It was pending: canceled at once.
    Canceled(Job),
    /// It is running: its worker stops at its next check and marks it canceled.
    Requested(Job),
    /// It had already finished; nothing changed.
    AlreadyFinished(Job),
}

pub async fn request_cancellation(
    db: &impl GenericClient,
    job_id: &str,
) -> StoreResult<Cancellation> {
    let sql = format!(
        "UPDATE jobs SET status = CASE status WHEN '{JOB_STATUS_PENDING}' THEN '{JOB_STATUS_CANCELED}' \
         ELSE '{JOB_STATUS_CANCEL_REQUESTED}' END, lastactivityat = {DB_NOW_MILLIS} \
         WHERE id = $1 AND status IN ('{JOB_STATUS_PENDING}', '{JOB_STATUS_IN_PROGRESS}') \
         RETURNING {JOB_COLUMNS}"
    );
    if let Some(row) = db.query_opt(&sql, &[&job_id]).await? {
        let job = job_from_row(&row);
        if job.status == JOB_STATUS_CANCELED {
            return Ok(Cancellation::Canceled(job));
        }
        return Ok(Cancellation::Requested(job));
    }
    let job = get(db, job_id).await?;
    if job.status == JOB_STATUS_CANCEL_REQUESTED {
        return Ok(Cancellation::Requested(job));
    }
    Ok(Cancellation::AlreadyFinished(job))
}

/// Removes finished jobs created before `cutoff_millis` (JobSettings.CleanupJobsThresholdDays).
pub async fn delete_finished_before(
    db: &impl GenericClient,
    cutoff_millis: i64,
) -> StoreResult<u64> {
    let sql = format!(
        "DELETE FROM jobs WHERE createat < $1 AND status NOT IN \
         ('{JOB_STATUS_PENDING}', '{JOB_STATUS_IN_PROGRESS}', '{JOB_STATUS_CANCEL_REQUESTED}')"
    );
    Ok(db.execute(&sql, &[&cutoff_millis]).await?)
}

/// How many posts data retention would delete.
pub async fn count_posts_before(db: &impl GenericClient, cutoff_millis: i64) -> StoreResult<i64> {
    let row = db
        .query_one(
            "SELECT count(*) FROM posts WHERE createat < $1",
            &[&cutoff_millis],
        )
        .await?;
    Ok(row.get(0))
}

/// Permanently deletes up to `batch_size` of the oldest posts created before `cutoff_millis`,
/// with their reactions, in one statement (so a crash never leaves reactions of a deleted post).
/// Returns how many posts went. Mattermost's data retention deletes for good, as here.
pub async fn delete_posts_batch_before(
    db: &impl GenericClient,
    cutoff_millis: i64,
    batch_size: i64,
) -> StoreResult<u64> {
    let row = db
        .query_one(
            "WITH doomed AS (SELECT id FROM posts WHERE createat < $1 ORDER BY createat LIMIT $2), \
             removed_reactions AS (DELETE FROM reactions WHERE postid IN (SELECT id FROM doomed)), \
             removed_posts AS (DELETE FROM posts WHERE id IN (SELECT id FROM doomed) RETURNING 1) \
             SELECT count(*) FROM removed_posts",
            &[&cutoff_millis, &batch_size.max(1)],
        )
        .await?;
    let deleted: i64 = row.get(0);
    Ok(deleted as u64)
}
