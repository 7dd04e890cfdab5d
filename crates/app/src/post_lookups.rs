//! Posts found other ways than by channel (issue 13): by ids, pinned, permalinks, search in
//! all the caller's teams, file search; and pinning.
//!
//! Pinning is an edit: it bumps the post's `updateat` and is announced with `post_edited`, so
//! a websocket rebuilt from the database replays it like any edit (`chorus_relay::rebuild`).

use crate::{App, AppResult};
use chorus_model::{
    event_names, is_valid_id, now_millis, AppError, ErrorId, FileInfoList, Post, PostList,
    PostSearchResults, SearchParameter, Session,
};
use chorus_relay::events::post_event;
use chorus_store::posts::{self as post_store, PostChanges};
use std::collections::HashMap;

/// Mattermost's limit on POST /posts/ids.
const MAX_POST_IDS: usize = 1000;

impl App {
    /// A live post the caller may read by permalink: one of their channels, or a public
    /// channel of one of their teams (which they may join), as Mattermost's getPost allows.
    pub(crate) async fn permalink_post(&self, session: &Session, post_id: &str) -> AppResult<Post> {
        if !is_valid_id(post_id) {
            return Err(AppError::invalid_param("post_id"));
        }
        let post = self
            .post_with_master_fallback(&session.user_id, post_id)
            .await?;
        if post.delete_at != 0 {
            return Err(AppError::from(ErrorId::PostDeleted));
        }
        self.require_channel_read(session, &post.channel_id).await?;
        Ok(post)
    }

    /// POST /posts/ids: the live posts among `post_ids` the caller may read (as a permalink
    /// would), newest first; the others are left out, as in Mattermost.
    pub async fn posts_by_ids(
        &self,
        session: &Session,
        post_ids: Vec<String>,
    ) -> AppResult<Vec<Post>> {
        if post_ids.is_empty() || post_ids.len() > MAX_POST_IDS {
            return Err(AppError::invalid_param("post_ids"));
        }
        if post_ids.iter().any(|post_id| !is_valid_id(post_id)) {
            return Err(AppError::invalid_param("post_ids"));
        }
        let keys = vec![chorus_store::FreshKey::User(session.user_id.clone())];
        let post_ids = &post_ids;
        let wanted = post_ids
            .iter()
            .collect::<std::collections::HashSet<_>>()
            .len();
        let posts = self
            .read_fresh_or_master(
                &keys,
                |posts: &Vec<Post>| posts.len() >= wanted,
                |db| async move { Ok(post_store::get_many(&db, post_ids).await?) },
            )
            .await?;
        let mut readable_channels: HashMap<String, bool> = HashMap::new();
        let mut readable = Vec::new();
        for post in posts {
            if post.delete_at != 0 {
                continue;
            }
            let allowed = match readable_channels.get(&post.channel_id) {
                Some(allowed) => *allowed,
                None => {
                    let allowed = match self.require_channel_read(session, &post.channel_id).await {
                        Ok(_) => true,
                        Err(error) if error.status_code == 403 || error.status_code == 404 => false,
                        Err(error) => return Err(error),
                    };
                    readable_channels.insert(post.channel_id.clone(), allowed);
                    allowed
                }
            };
            if allowed {
                readable.push(post.shown_to_clients());
            }
        }
        readable.sort_by_key(|post| std::cmp::Reverse(post.create_at));
        Ok(readable)
    }

    /// GET /channels/{id}/pinned: for the channel's members.
    pub async fn pinned_posts(&self, session: &Session, channel_id: &str) -> AppResult<PostList> {
        if !is_valid_id(channel_id) {
            return Err(AppError::invalid_param("channel_id"));
        }
        self.require_channel_member(session, channel_id).await?;
        let db = self.fresh_read(&session.user_id, Some(channel_id)).await?;
        Ok(post_store::pinned(&db, channel_id).await?)
    }

    /// POST /posts/{id}/pin and /unpin: any member of the channel may (Mattermost asks for
    /// `read_channel_content`, not for the post to be theirs); not in an archived channel.
    /// Announced with `post_edited`; `edit_at` does not move (the message did not change).
    pub async fn set_post_pinned(
        &self,
        session: &Session,
        post_id: &str,
        pinned: bool,
    ) -> AppResult<Post> {
        let (post, channel) = self.readable_post_and_channel(session, post_id).await?;
        if channel.delete_at != 0 {
            return Err(ErrorId::PatchPostInArchivedChannel.into());
        }
        if post.is_pinned == pinned {
            return Ok(post);
        }
        let changes = PostChanges {
            is_pinned: Some(pinned),
            ..PostChanges::default()
        };
        let _ordering = self.inner.channel_locks.lock(&post.channel_id).await;
        let db = self.store().master().await?;
        let mut updated = post_store::update(&db, post_id, &changes, now_millis()).await?;
        if !updated.file_ids.is_empty() {
            updated.metadata.files = chorus_store::files::for_post(&db, post_id).await?;
        }
        drop(db);
        self.publish(post_event(event_names::POST_EDITED, &updated));
        Ok(updated)
    }

    /// POST /posts/search: a post search across every team of the caller.
    pub async fn search_posts_in_all_teams(
        &self,
        session: &Session,
        parameters: SearchParameter,
    ) -> AppResult<PostSearchResults> {
        self.search_posts_in(session, None, parameters).await
    }

    /// POST /teams/{id}/files/search: files attached to posts of the caller's channels in the
    /// team whose names contain the terms (all of them, or any with `is_or_search`).
    pub async fn search_files(
        &self,
        session: &Session,
        team_id: &str,
        parameters: SearchParameter,
    ) -> AppResult<FileInfoList> {
        let config = self.config();
        if config.sql_settings.disable_database_search {
            return Err(ErrorId::PostSearchDisabled.into());
        }
        self.require_not_busy()?;
        if !is_valid_id(team_id) {
            return Err(AppError::invalid_param("team_id"));
        }
        self.require_team_member(session, team_id).await?;
        let (offset, limit) = crate::page_window(parameters.page, parameters.per_page, 60, 200)?;
        let terms: Vec<String> = parameters
            .terms
            .split_whitespace()
            .map(|term| term.trim_matches('"').trim_end_matches('*').to_string())
            .filter(|term| !term.is_empty())
            .collect();
        if terms.len() > chorus_model::MAX_SEARCH_TERMS
            || terms
                .iter()
                .any(|term| term.chars().count() > chorus_model::MAX_SEARCH_TERM_LENGTH)
        {
            return Err(AppError::invalid_param("terms"));
        }
        let mut list = FileInfoList::default();
        if terms.is_empty() {
            return Ok(list);
        }
        let db = self
            .store()
            .search_for(&[chorus_store::FreshKey::User(session.user_id.clone())])
            .await?;
        let files = chorus_store::files::search(
            &db,
            &session.user_id,
            team_id,
            &terms,
            parameters.is_or_search,
            offset,
            limit,
        )
        .await?;
        for file in files {
            list.order.push(file.id.clone());
            list.file_infos.insert(file.id.clone(), file);
        }
        Ok(list)
    }
}
