// Who is typing where, from the websocket's `typing` events (data.user_id, data.parent_id,
// broadcast.channel_id); each entry expires a few seconds after the last event, or when that
// person's post arrives. `notifyTyping` tells the others that I am typing (the message box
// calls it on input; it sends at most once per 3 s per channel and thread).

import { signal } from '@preact/signals';
import { socket, subscribe } from '../api';
import { me } from '../state';

export const TYPING_EXPIRES_MS = 5000;
const SEND_EVERY_MS = 3000;

/// By "channelId:parentId" (parentId '' for the channel itself): user id → when it expires.
export type Typing = Map<string, Map<string, number>>;

export const typingKey = (channelId: string, parentId = '') => `${channelId}:${parentId}`;

/// `typing` with `userId` typing at `key` until `expiresAt` (pure).
export function addTyping(typing: Typing, key: string, userId: string, expiresAt: number): Typing {
    const next = new Map(typing);
    next.set(key, new Map(next.get(key) ?? []).set(userId, expiresAt));
    return next;
}

/// `typing` without `userId` at `key` (their post arrived); the same map when nothing changes.
export function removeTyping(typing: Typing, key: string, userId: string): Typing {
    if (!typing.get(key)?.has(userId)) {
        return typing;
    }
    const next = new Map(typing);
    const users = new Map(next.get(key));
    users.delete(userId);
    if (users.size === 0) {
        next.delete(key);
    } else {
        next.set(key, users);
    }
    return next;
}

/// `typing` without the entries expired at `now`; the same map when none has.
export function expireTyping(typing: Typing, now: number): Typing {
    let next = typing;
    for (const [key, users] of typing) {
        for (const [userId, expiresAt] of users) {
            if (expiresAt <= now) {
                next = removeTyping(next, key, userId);
            }
        }
    }
    return next;
}

/// "alice is typing…", "alice and bob are typing…", "alice, bob and carol are typing…",
/// "alice, bob and 3 others are typing…"; '' for nobody.
export function typingText(names: string[]): string {
    if (names.length === 0) {
        return '';
    }
    if (names.length === 1) {
        return `${names[0]} is typing…`;
    }
    if (names.length <= 3) {
        return `${names.slice(0, -1).join(', ')} and ${names[names.length - 1]} are typing…`;
    }
    return `${names.slice(0, 2).join(', ')} and ${names.length - 2} others are typing…`;
}

export const typing = signal<Typing>(new Map());

let timer: ReturnType<typeof setInterval> | null = null;
function prune() {
    typing.value = expireTyping(typing.value, Date.now());
    if (typing.value.size === 0 && timer) {
        clearInterval(timer);
        timer = null;
    }
}

subscribe({
    onEvent: (event) => {
        if (event.event === 'typing') {
            const userId = event.data.user_id as string;
            const channelId = (event.broadcast?.channel_id as string) || (event.data.channel_id as string);
            if (!userId || !channelId || userId === me.value?.id) {
                return;
            }
            typing.value = addTyping(typing.value, typingKey(channelId, event.data.parent_id || ''), userId, Date.now() + TYPING_EXPIRES_MS);
            timer ??= setInterval(prune, 500);
        } else if (event.event === 'posted' && event.data.post) {
            try {
                const post = JSON.parse(event.data.post);
                typing.value = removeTyping(typing.value, typingKey(post.channel_id, post.root_id || ''), post.user_id);
            } catch {
                // Not a post: nothing to clear.
            }
        }
    },
});

const lastSent = new Map<string, number>();

/// Tells the channel's (or thread's) other members that I am typing; call on every input, it
/// sends at most once per 3 s for each channel and thread.
export function notifyTyping(channelId: string, parentId = '') {
    const key = typingKey(channelId, parentId);
    const now = Date.now();
    if (now - (lastSent.get(key) ?? 0) < SEND_EVERY_MS) {
        return;
    }
    lastSent.set(key, now);
    try {
        socket.userTyping(channelId, parentId);
    } catch {
        // Not connected: the others simply do not see it.
    }
}
