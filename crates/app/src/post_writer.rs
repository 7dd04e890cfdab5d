//! Storing posts: root posts that wait at the same moment are written together.
//!
//! A post's statement costs PostgreSQL far more in starting the executor, committing and the
//! round trip than in its rows (docs/benchmarks.md), so root posts without files, mentions or
//! outgoing webhooks (`store::posts::batchable`) go through a group commit: at most
//! [`WRITERS`] statements of them are in flight per node; a post arriving while a writer is
//! free is written at once by its own request, and the posts arriving while all are busy are
//! written by the next free one in one statement (`store::posts::create_root_posts`). A post
//! holds its channel's lock while it is written (`posts::commit_and_publish`), so a batch never
//! holds two posts of one channel (a second one would be written alone anyway). A post the
//! batch left (its channel's row locked by another node, archived, or a retry) or a batch that
//! failed goes through the single statement, which waits for the lock and answers every case.

use crate::App;
use chorus_store::posts::{self as post_store, CreateOutcome, CreatePostError, NewPost};
use chorus_store::StoreError;
use parking_lot::Mutex;
use std::collections::HashSet;
use tokio::sync::oneshot;

/// Batch statements in flight at once per node. One: the posts that wait behind it make the
/// next batch bigger, which costs PostgreSQL less per post (89–100 µs against 114–131 with
/// two writers and 160–190 with four, docs/benchmarks.md) and gives more posts per second.
const WRITERS: usize = 1;

/// Posts one statement writes at most.
const MAX_BATCH: usize = 32;

type Outcome = Result<CreateOutcome, CreatePostError>;

/// The posts waiting for a writer, and how many writers are busy.
#[derive(Default)]
pub(crate) struct PostWriter {
    state: Mutex<WriterState>,
}

#[derive(Default)]
struct WriterState {
    waiting: Vec<Waiting>,
    writers: usize,
}

struct Waiting {
    post: NewPost,
    reply: oneshot::Sender<Outcome>,
}

impl App {
    /// Stores a new post: with other channels' root posts when writers are busy, else alone.
    pub(crate) async fn write_post(&self, new_post: NewPost) -> Outcome {
        if !post_store::batchable(&new_post) {
            return self.write_post_alone(new_post).await;
        }
        let (reply, answer) = oneshot::channel();
        let waiting = Waiting {
            post: new_post,
            reply,
        };
        let leading = {
            let mut state = self.inner.post_writer.state.lock();
            if state.writers < WRITERS {
                state.writers += 1;
                Some(waiting)
            } else {
                state.waiting.push(waiting);
                None
            }
        };
        // A free writer: this request writes its post, with whatever waits, itself (no hand
        // over to another task on the way, which one channel's serial posts would feel).
        if let Some(own) = leading {
            let busy = BusyWriter { app: self.clone() };
            let mut batch = vec![own];
            {
                let mut state = self.inner.post_writer.state.lock();
                let count = state.waiting.len().min(MAX_BATCH - 1);
                batch.extend(state.waiting.drain(..count));
            }
            self.write_batch(batch).await;
            // What came meanwhile goes to a writer of its own (see `BusyWriter`).
            drop(busy);
        }
        answer.await.unwrap_or_else(|_| {
            Err(StoreError::Database("the post writer stopped".to_string()).into())
        })
    }

    async fn write_post_alone(&self, new_post: NewPost) -> Outcome {
        let mut db = self.store().master().await?;
        let outcome = post_store::create(&mut db, new_post).await;
        if matches!(outcome, Ok(CreateOutcome::Created { .. })) {
            self.metrics().posts_written(1);
        }
        outcome
    }

    /// A writer: writes what waits, batch after batch, until nothing does.
    async fn write_waiting_posts(self) {
        let _busy = BusyWriter { app: self.clone() };
        loop {
            let batch: Vec<Waiting> = {
                let mut state = self.inner.post_writer.state.lock();
                if state.waiting.is_empty() {
                    return;
                }
                let count = state.waiting.len().min(MAX_BATCH);
                state.waiting.drain(..count).collect()
            };
            self.write_batch(batch).await;
        }
    }

    async fn write_batch(&self, batch: Vec<Waiting>) {
        let mut channels = HashSet::new();
        let (together, alone): (Vec<Waiting>, Vec<Waiting>) = batch
            .into_iter()
            .partition(|waiting| channels.insert(waiting.post.post.channel_id.clone()));
        for waiting in alone {
            self.write_alone_soon(waiting);
        }
        if together.len() == 1 {
            for Waiting { post, reply } in together {
                let _ = reply.send(self.write_post_alone(post).await);
            }
            return;
        }
        let (posts, replies): (Vec<NewPost>, Vec<oneshot::Sender<Outcome>>) = together
            .into_iter()
            .map(|waiting| (waiting.post, waiting.reply))
            .unzip();
        let stored = match self.store().master().await {
            Ok(db) => post_store::create_root_posts(&db, &posts).await,
            Err(error) => Err(error),
        };
        let stored = match stored {
            Ok(stored) => stored,
            Err(error) => {
                tracing::warn!(%error, posts = posts.len(), "writing posts together failed; each is written alone");
                vec![None; posts.len()]
            }
        };
        let written = stored.iter().filter(|one| one.is_some()).count();
        if written > 0 {
            self.metrics().posts_written(written);
        }
        for ((post, reply), stored) in posts.into_iter().zip(replies).zip(stored) {
            match stored {
                Some((create_at, previous_post_at)) => {
                    let NewPost { mut post, .. } = post;
                    post.create_at = create_at;
                    post.update_at = create_at;
                    let _ = reply.send(Ok(CreateOutcome::Created {
                        post,
                        previous_post_at,
                        thread_followers: Vec::new(),
                        deliveries: 0,
                    }));
                }
                None => self.write_alone_soon(Waiting { post, reply }),
            }
        }
    }

    /// Writes a post with the single statement, off the writer's loop (it may wait for a
    /// channel row another node holds).
    fn write_alone_soon(&self, waiting: Waiting) {
        let app = self.clone();
        tokio::spawn(async move {
            let outcome = app.write_post_alone(waiting.post).await;
            let _ = waiting.reply.send(outcome);
        });
    }
}

/// A busy writer's place; given back when the writer ends, even by a panic. Posts that came
/// while every writer was busy get a writer task of their own.
struct BusyWriter {
    app: App,
}

impl Drop for BusyWriter {
    fn drop(&mut self) {
        let restart = {
            let mut state = self.app.inner.post_writer.state.lock();
            state.writers -= 1;
            !state.waiting.is_empty() && {
                state.writers += 1;
                true
            }
        };
        if restart {
            tokio::spawn(self.app.clone().write_waiting_posts());
        }
    }
}
