// What a websocket event does to an open thread (its root and replies): pure, tested in
// tests/unit/thread.test.ts.

import { mergePosts } from './posts';
import type { Post, Reaction } from '../state';

type Event = { event: string; data: Record<string, any> };

/// A change to the thread's posts, the root's deletion, or nothing (the event is not about
/// this thread).
export type ThreadChange = ((posts: Post[]) => Post[]) | 'root-deleted' | null;

function parse<T>(value: unknown): T | null {
    if (typeof value !== 'string') {
        return (value as T) ?? null;
    }
    try {
        return JSON.parse(value) as T;
    } catch {
        return null;
    }
}

/// A post with one reaction added or removed (each person's emoji once).
export function withReaction(post: Post, reaction: Reaction, added: boolean): Post {
    const current = post.metadata?.reactions ?? [];
    const others = current.filter((r) => !(r.user_id === reaction.user_id && r.emoji_name === reaction.emoji_name));
    const reactions = added ? [...others, reaction] : others;
    return { ...post, metadata: { ...post.metadata, reactions } };
}

export function applyThreadEvent(rootId: string, event: Event): ThreadChange {
    switch (event.event) {
    case 'posted':
    case 'post_edited': {
        const post = parse<Post>(event.data?.post);
        if (!post || (post.id !== rootId && post.root_id !== rootId)) {
            return null;
        }
        return (posts) => mergePosts(posts, [post]);
    }
    case 'post_deleted': {
        const post = parse<Post>(event.data?.post);
        if (!post) {
            return null;
        }
        if (post.id === rootId) {
            return 'root-deleted';
        }
        if (post.root_id !== rootId) {
            return null;
        }
        return (posts) => posts.filter((p) => p.id !== post.id);
    }
    case 'reaction_added':
    case 'reaction_removed': {
        const reaction = parse<Reaction>(event.data?.reaction);
        if (!reaction) {
            return null;
        }
        const added = event.event === 'reaction_added';
        return (posts) => (posts.some((p) => p.id === reaction.post_id)
            ? posts.map((p) => (p.id === reaction.post_id ? withReaction(p, reaction, added) : p))
            : posts);
    }
    default:
        return null;
    }
}

/// The thread after fetching it again (a reconnect that could not resume): the answer is the
/// whole thread, so what it no longer has was deleted while the page was away, unless it
/// arrived live after the request went out (`requestedAt`); each post is kept once.
export function refetchedThread(current: Post[], fetched: Post[], requestedAt: number): Post[] {
    const ids = new Set(fetched.map((post) => post.id));
    const kept = current.filter((post) => ids.has(post.id) || post.create_at >= requestedAt);
    return mergePosts(kept, fetched);
}
