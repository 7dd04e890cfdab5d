// Post lists as the page keeps them: pure functions, tested in tests/unit.

import type { Post } from '../state';

/// Posts of a channel in display order (oldest first), each once: a post that arrives by the
/// websocket and by a fetch, or as the echo of our own pending post, is kept once; a newer
/// copy of a post (an edit) replaces the older.
export function mergePosts(current: Post[], incoming: Post[]): Post[] {
    const byId = new Map<string, Post>();
    for (const post of current) {
        byId.set(post.id, post);
    }
    for (const post of incoming) {
        if (post.pending_post_id) {
            for (const [id, existing] of byId) {
                if (existing.pending_post_id === post.pending_post_id && id !== post.id) {
                    byId.delete(id);
                }
            }
        }
        const existing = byId.get(post.id);
        if (existing && (existing.update_at ?? 0) > (post.update_at ?? 0)) {
            continue;
        }
        byId.set(post.id, post);
    }
    return [...byId.values()].sort((a, b) => a.create_at - b.create_at || a.id.localeCompare(b.id));
}

/// A PostList answer (order + posts) as an array.
export function postsOf(list: { order: string[]; posts: Record<string, Post> }): Post[] {
    return list.order.map((id) => list.posts[id]).filter(Boolean);
}
