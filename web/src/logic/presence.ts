// Presence (online, away, dnd, offline) of the people shown, in the `statuses` signal. Views
// call ensureStatuses(ids) for whom they show; the ids are fetched in one batch, and polled
// while shown (the server announces `status_change` only to the person whose status changed,
// as Mattermost does, whose web app polls too), and after a reconnect.

import { client, subscribe } from '../api';
import { statuses } from '../state';

/// How often the statuses of the people shown are fetched again.
export const POLL_MS = 15000;

const known = new Set<string>();
let queued = new Set<string>();
let flush: ReturnType<typeof setTimeout> | null = null;
let poller: ReturnType<typeof setInterval> | null = null;

/// `current` with `updates` applied: the same map when nothing changes (pure).
export function applyStatuses(current: Map<string, string>, updates: { user_id: string; status: string }[]): Map<string, string> {
    let next = current;
    for (const { user_id: userId, status } of updates) {
        if (userId && status && next.get(userId) !== status) {
            if (next === current) {
                next = new Map(current);
            }
            next.set(userId, status);
        }
    }
    return next;
}

function fetchStatuses(ids: string[]) {
    if (ids.length === 0) {
        return;
    }
    client.getStatusesByIds(ids)
        .then((list: { user_id: string; status: string }[]) => {
            statuses.value = applyStatuses(statuses.value, list);
        })
        .catch(() => {});
}

/// Makes sure the statuses of `userIds` are known and kept fresh.
export function ensureStatuses(userIds: Iterable<string>) {
    for (const id of userIds) {
        if (id && !known.has(id)) {
            known.add(id);
            queued.add(id);
        }
    }
    if (queued.size > 0 && !flush) {
        flush = setTimeout(() => {
            flush = null;
            const ids = [...queued];
            queued = new Set();
            fetchStatuses(ids);
        }, 30);
    }
    poller ??= setInterval(() => {
        if (typeof document === 'undefined' || document.visibilityState !== 'hidden') {
            fetchStatuses([...known]);
        }
    }, POLL_MS);
}

subscribe({
    onEvent: (event) => {
        if (event.event === 'status_change') {
            statuses.value = applyStatuses(statuses.value, [{ user_id: event.data.user_id, status: event.data.status }]);
        }
    },
    onResync: () => fetchStatuses([...known]),
});
