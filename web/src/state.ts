// What the page knows, as signals: views re-render when what they read changes. Data that
// several views share lives here; a view's own state stays in the view.

import { signal } from '@preact/signals';

export type User = {
    id: string; username: string; roles: string; first_name?: string; last_name?: string;
    nickname?: string; email?: string; last_picture_update?: number; delete_at?: number;
};
export type Team = { id: string; name: string; display_name: string; type?: string };
export type Channel = {
    id: string; name: string; display_name: string; type: string; team_id: string;
    total_msg_count?: number; total_msg_count_root?: number; last_post_at?: number; delete_at?: number;
    purpose?: string; header?: string;
};
export type ChannelMember = {
    channel_id: string; user_id: string; msg_count: number; mention_count: number;
    last_viewed_at: number; roles?: string; notify_props?: Record<string, string>;
};
export type Post = {
    id: string; channel_id: string; user_id: string; message: string; create_at: number;
    update_at?: number; edit_at?: number; delete_at?: number; root_id?: string; type?: string;
    pending_post_id?: string; file_ids?: string[]; props?: Record<string, unknown>;
    metadata?: { reactions?: Reaction[]; files?: FileInfo[]; emojis?: unknown[] };
    reply_count?: number;
};
export type Reaction = { user_id: string; post_id: string; emoji_name: string; create_at: number };
export type FileInfo = {
    id: string; name: string; extension: string; size: number; mime_type: string;
    width?: number; height?: number; has_preview_image?: boolean; post_id?: string;
};

/// Right-hand pane: a thread, or search results, or closed.
export type RightPane = { kind: 'thread'; rootId: string } | { kind: 'search'; terms: string } | null;

export const me = signal<User | null>(null);
/// Profiles seen so far, by id (authors of shown posts, sidebar DMs).
export const users = signal<Map<string, User>>(new Map());
/// Presence by user id: online, away, dnd, offline.
export const statuses = signal<Map<string, string>>(new Map());
/// The teams I am a member of, and the one shown.
export const teams = signal<Team[]>([]);
export const currentTeam = signal<Team | null>(null);
/// My channels in the current team (with direct and group messages), by id, and my membership
/// of each (read state, mention counts), by channel id.
export const channels = signal<Map<string, Channel>>(new Map());
export const myMembers = signal<Map<string, ChannelMember>>(new Map());
export const currentChannelId = signal<string | null>(null);
export const rightPane = signal<RightPane>(null);

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

/// Remembers profiles (one new Map, so readers re-render once).
export function rememberUsers(profiles: User[]) {
    if (profiles.length === 0) {
        return;
    }
    const known = new Map(users.value);
    for (const profile of profiles) {
        known.set(profile.id, profile);
    }
    users.value = known;
}

/// The name a person is shown by.
export function displayName(user: User | undefined): string {
    return user ? user.username : '…';
}

/// A post to scroll to and highlight in the channel view (a search result or permalink was
/// opened); the channel view clears it once shown.
export const highlightPostId = signal<string | null>(null);

/// Sidebar (helper "sidebar"): my sidebar categories in the current team (Favorites, Channels,
/// Direct Messages, custom), as the server orders them, and unread marks of my other teams.
export type Category = {
    id: string; team_id?: string; user_id?: string; type: string; display_name: string;
    sorting?: string; channel_ids: string[]; collapsed?: boolean;
};
export const categories = signal<Category[]>([]);
export type TeamUnread = { team_id: string; msg_count: number; mention_count: number };
export const teamUnreads = signal<Map<string, TeamUnread>>(new Map());
