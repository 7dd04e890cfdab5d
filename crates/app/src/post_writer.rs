//! Group commit for root posts without files, the common post: posts waiting at the same
//! moment on this node are created by one statement and one commit
//! (`store::posts::create_root_posts`) instead of one each, which saves PostgreSQL the
//! per-statement and per-commit work that dominates a small post.
//!
//! A few writer tasks take whatever jobs are queued — never waiting for more, so a lone post
//! is not delayed — and answer each job once its batch has committed. Each job's author still
//! holds its channel's lock while waiting, so a batch has at most one post per channel, and
//! `create_at` order, "acknowledged = committed" and "events after commit in commit order" hold
//! as for a single post. A post the batch did not create (a retry, an archived channel), or
//! every post of a batch that failed (a concurrent retry's unique violation, a deadlock with
//! another node's batch), goes through `store::posts::create` on its own.

use std::sync::Arc;

use chorus_store::posts::{self as post_store, CreateOutcome, CreatePostError, NewPost};
use chorus_store::{Store, StoreError};
use tokio::sync::{mpsc, oneshot, Mutex};

/// Batches in flight at once; more would split the waiting posts into smaller batches.
const WRITERS: usize = 4;
/// Posts in one statement.
const MAX_BATCH: usize = 64;

type Outcome = Result<CreateOutcome, CreatePostError>;

struct Job {
    post: NewPost,
    reply: oneshot::Sender<Outcome>,
}

pub(crate) struct PostWriter {
    jobs: mpsc::UnboundedSender<Job>,
}

impl PostWriter {
    /// Starts the writer tasks; they end when the writer is dropped. Needs a tokio runtime.
    pub(crate) fn start(store: Store) -> PostWriter {
        let (jobs, queue) = mpsc::unbounded_channel();
        let queue = Arc::new(Mutex::new(queue));
        for _ in 0..WRITERS {
            tokio::spawn(write_batches(store.clone(), queue.clone()));
        }
        PostWriter { jobs }
    }

    /// Creates a root post without files (the caller holds its channel's lock).
    pub(crate) async fn create(&self, post: NewPost) -> Outcome {
        let (reply, answer) = oneshot::channel();
        self.jobs
            .send(Job { post, reply })
            .map_err(|_| writer_gone())?;
        answer.await.map_err(|_| writer_gone())?
    }
}

fn writer_gone() -> CreatePostError {
    CreatePostError::Store(StoreError::Unavailable(
        "the post writer has stopped".to_owned(),
    ))
}

async fn write_batches(store: Store, queue: Arc<Mutex<mpsc::UnboundedReceiver<Job>>>) {
    loop {
        let batch = {
            let mut queue = queue.lock().await;
            let Some(first) = queue.recv().await else {
                return;
            };
            let mut batch = vec![first];
            while batch.len() < MAX_BATCH {
                match queue.try_recv() {
                    Ok(job) => batch.push(job),
                    Err(_) => break,
                }
            }
            batch
        };
        write(&store, batch).await;
    }
}

async fn write(store: &Store, batch: Vec<Job>) {
    let mut one_by_one = batch;
    if one_by_one.len() > 1 {
        match create_together(store, &one_by_one).await {
            Ok(created_at) => {
                let mut left = Vec::new();
                for (job, created_at) in one_by_one.into_iter().zip(created_at) {
                    match created_at {
                        Some(create_at) => {
                            let mut post = job.post.post;
                            post.create_at = create_at;
                            post.update_at = create_at;
                            let _ = job.reply.send(Ok(CreateOutcome::Created(post)));
                        }
                        None => left.push(job),
                    }
                }
                one_by_one = left;
            }
            Err(error) => {
                tracing::debug!(%error, posts = one_by_one.len(), "batched post create failed; creating one by one");
            }
        }
    }
    for job in one_by_one {
        let outcome = create_alone(store, job.post).await;
        let _ = job.reply.send(outcome);
    }
}

async fn create_together(store: &Store, batch: &[Job]) -> Result<Vec<Option<i64>>, StoreError> {
    let posts: Vec<&NewPost> = batch.iter().map(|job| &job.post).collect();
    let mut db = store.master().await?;
    post_store::create_root_posts(&mut db, &posts).await
}

async fn create_alone(store: &Store, post: NewPost) -> Outcome {
    let mut db = store.master().await?;
    post_store::create(&mut db, post).await
}
