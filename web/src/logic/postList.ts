// The channel's post list as it is drawn: live changes (edits, deletions, reactions, replies)
// and the layout (date separators, the "new messages" line, consecutive posts of one author
// under one header). Pure functions, tested in tests/unit.

import type { Post, Reaction } from '../state';
import { mergePosts } from './posts';

/// Consecutive posts of one author within this long share the first one's header.
export const COLLAPSE_WITHIN_MS = 5 * 60 * 1000;

/// `posts` with `post` merged in; a reply the list did not have yet counts on its root.
export function addPost(posts: Post[], post: Post): Post[] {
    const isNew = !posts.some((existing) => existing.id === post.id
        || (post.pending_post_id && existing.pending_post_id === post.pending_post_id));
    let merged = mergePosts(posts, [post]);
    if (isNew && post.root_id) {
        merged = merged.map((existing) => (existing.id === post.root_id
            ? { ...existing, reply_count: (existing.reply_count ?? 0) + 1 } : existing));
    }
    return merged;
}

/// `posts` without the deleted post and, for a root, its replies; a deleted reply no longer
/// counts on its root.
export function removePost(posts: Post[], deleted: Pick<Post, 'id'> & Partial<Post>): Post[] {
    const gone = posts.find((post) => post.id === deleted.id);
    if (!gone) {
        return posts;
    }
    return posts
        .filter((post) => post.id !== deleted.id && post.root_id !== deleted.id)
        .map((post) => (gone.root_id && post.id === gone.root_id
            ? { ...post, reply_count: Math.max(0, (post.reply_count ?? 1) - 1) } : post));
}

/// `posts` with what changed while the page was not listening (a `since` answer: new, edited
/// and deleted posts) applied.
export function applyChanges(posts: Post[], changed: Post[]): Post[] {
    let next = posts;
    for (const post of changed) {
        next = (post.delete_at ?? 0) > 0 ? removePost(next, post) : addPost(next, post);
    }
    return next;
}

/// `posts` with `reaction` added to or removed from its post (each person's emoji once); the
/// same list when the post is not in it.
export function applyReaction(posts: Post[], reaction: Reaction, added: boolean): Post[] {
    const index = posts.findIndex((post) => post.id === reaction.post_id);
    if (index < 0) {
        return posts;
    }
    const post = posts[index];
    const others = (post.metadata?.reactions ?? [])
        .filter((r) => !(r.user_id === reaction.user_id && r.emoji_name === reaction.emoji_name));
    const reactions = added ? [...others, reaction] : others;
    const next = posts.slice();
    next[index] = { ...post, metadata: { ...post.metadata, reactions } };
    return next;
}

export type ReactionGroup = { name: string; count: number; mine: boolean; userIds: string[] };

/// A post's reactions by emoji, in the order each emoji was first used.
export function groupReactions(reactions: Reaction[] | undefined, myId: string): ReactionGroup[] {
    const groups = new Map<string, ReactionGroup>();
    for (const reaction of [...(reactions ?? [])].sort((a, b) => a.create_at - b.create_at)) {
        const group = groups.get(reaction.emoji_name)
            ?? { name: reaction.emoji_name, count: 0, mine: false, userIds: [] };
        group.count += 1;
        group.mine ||= reaction.user_id === myId;
        group.userIds.push(reaction.user_id);
        groups.set(reaction.emoji_name, group);
    }
    return [...groups.values()];
}

export type Row =
    | { kind: 'date'; key: string; label: string }
    | { kind: 'new'; key: string }
    | { kind: 'post'; key: string; post: Post; consecutive: boolean };

const dayOf = (at: number) => {
    const date = new Date(at);
    return new Date(date.getFullYear(), date.getMonth(), date.getDate()).getTime();
};

/// "Today", "Yesterday", or the date ("Wed, Dec 02, 2026"; the year only when not this year).
export function dateLabel(at: number, now = Date.now()): string {
    const day = dayOf(at);
    const today = dayOf(now);
    if (day === today) {
        return 'Today';
    }
    if (day === dayOf(today - 12 * 3600 * 1000)) {
        return 'Yesterday';
    }
    const options: Intl.DateTimeFormatOptions = { weekday: 'short', month: 'short', day: '2-digit' };
    if (new Date(at).getFullYear() !== new Date(now).getFullYear()) {
        options.year = 'numeric';
    }
    return new Date(at).toLocaleDateString('en-US', options);
}

/// The id of the first post newer than `lastViewedAt` that someone else wrote: the "new
/// messages" line goes above it. null when there is none (or lastViewedAt is unknown).
export function firstUnreadId(posts: Post[], lastViewedAt: number | null | undefined, myId: string): string | null {
    if (lastViewedAt == null) {
        return null;
    }
    const first = posts.find((post) => post.create_at > lastViewedAt && post.user_id !== myId && !post.type?.startsWith('system_'));
    return first?.id ?? null;
}

/// The rows to draw for `posts` (oldest first): a date separator where the day changes, the new
/// messages line above `newLineBeforeId`, and each post marked consecutive when it continues
/// the previous post's author within a few minutes (same thread, no separator between).
export function layoutPosts(posts: Post[], newLineBeforeId: string | null, now = Date.now()): Row[] {
    const rows: Row[] = [];
    let previous: Post | null = null;
    for (const post of posts) {
        let separated = false;
        if (!previous || dayOf(previous.create_at) !== dayOf(post.create_at)) {
            rows.push({ kind: 'date', key: `date-${dayOf(post.create_at)}`, label: dateLabel(post.create_at, now) });
            separated = true;
        }
        if (post.id === newLineBeforeId) {
            rows.push({ kind: 'new', key: 'new-messages' });
            separated = true;
        }
        const consecutive = !separated && previous !== null
            && previous.user_id === post.user_id
            && post.create_at - previous.create_at < COLLAPSE_WITHIN_MS
            && !post.type?.startsWith('system_') && !previous.type?.startsWith('system_')
            && (post.root_id || '') === (previous.root_id || '');
        rows.push({ kind: 'post', key: post.id, post, consecutive });
        previous = post;
    }
    return rows;
}
