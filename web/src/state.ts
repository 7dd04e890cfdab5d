// What the page knows, as signals: views re-render when what they read changes.

import { signal } from '@preact/signals';

export type User = { id: string; username: string; roles: string };
export type Team = { id: string; name: string; display_name: string };
export type Channel = { id: string; name: string; display_name: string; type: string; team_id: string };
export type Post = { id: string; channel_id: string; user_id: string; message: string; create_at: number; pending_post_id?: string };

export const me = signal<User | null>(null);
/// Profiles seen so far, by id (authors of shown posts).
export const users = signal<Map<string, User>>(new Map());
export const path = signal(window.location.pathname);

export function navigate(to: string, replace = false) {
    if (to === window.location.pathname) {
        return;
    }
    if (replace) {
        window.history.replaceState(null, '', to);
    } else {
        window.history.pushState(null, '', to);
    }
    path.value = to;
}

window.addEventListener('popstate', () => {
    path.value = window.location.pathname;
});

/// Posts of a channel in display order (oldest first), each once: a post that arrives by the
/// websocket and by a fetch, or as the echo of our own pending post, is kept once.
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
        byId.set(post.id, post);
    }
    return [...byId.values()].sort((a, b) => a.create_at - b.create_at || a.id.localeCompare(b.id));
}
