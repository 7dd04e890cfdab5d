// The one Client4 of the page and its websocket. The session lives in Mattermost's cookies
// (MMAUTHTOKEN, HttpOnly; MMCSRF for writes), which Client4 sends when told to include them, so
// a reload stays logged in and no token is kept in page-readable storage.

import mattermostClient from '@mattermost/client';
import { signal } from '@preact/signals';

const { Client4, WebSocketClient } = mattermostClient as any;

export const client = new Client4();
client.setUrl(window.location.origin);
client.setIncludeCookies(true);

// Mattermost's web app waits 3 s plus up to 2 s of jitter before reconnecting; a Chorus node
// that dies is replaced by NGINX at once, so the first retry comes sooner (still jittered, so
// the clients of a dead node do not all arrive in the same instant).
export const socket = new WebSocketClient({ minWebSocketRetryTime: 1000, reconnectJitterRange: 1000 });

/// Whether the websocket is up: the page shows a "reconnecting" notice while it is not.
export const connection = signal<'connecting' | 'connected' | 'reconnecting'>('connecting');

export type SocketEvent = { event: string; seq?: number; data: Record<string, any>; broadcast?: Record<string, any> };
type Subscriber = { onEvent?: (event: SocketEvent) => void; onResync?: () => void };
const subscribers = new Set<Subscriber>();

// Registered once, before the socket connects: WebSocketClient checks the events' sequence
// numbers only while it has a listener, so one that is added later sees a "gap" at once and
// drops the connection. Views subscribe here instead.
socket.addMessageListener((event: SocketEvent) => {
    for (const subscriber of subscribers) {
        subscriber.onEvent?.(event);
    }
});
// A new connection that could not resume (the server says `hello` again after a reconnect,
// or the client saw a gap), or any reconnect: whatever a view shows may be stale, so it
// fetches again (the merges keep each post once).
const resync = () => {
    for (const subscriber of subscribers) {
        subscriber.onResync?.();
    }
};
socket.addMissedMessageListener(resync);
socket.addReconnectListener(() => {
    connection.value = 'connected';
    resync();
});
socket.addFirstConnectListener(() => {
    connection.value = 'connected';
});
socket.addCloseListener(() => {
    connection.value = 'reconnecting';
});

/// Subscribes a view to websocket events and to resyncs; returns the unsubscribe.
export function subscribe(subscriber: Subscriber): () => void {
    subscribers.add(subscriber);
    return () => {
        subscribers.delete(subscriber);
    };
}

export function websocketUrl(): string {
    const scheme = window.location.protocol === 'https:' ? 'wss:' : 'ws:';
    return `${scheme}//${window.location.host}/api/v4/websocket`;
}

export function pendingPostId(userId: string): string {
    return `${userId}:${Date.now()}${Math.random().toString(36).slice(2, 8)}`;
}

/// The server's error message for a failed call, for showing to the person.
export function errorMessage(error: unknown): string {
    const message = (error as { message?: string })?.message;
    return message || 'Something went wrong. Please try again.';
}

/// Whether a failed call may succeed if made again: the server could not be reached (a
/// network error, or NGINX's own 502/504 page while a node dies), or it was busy or failing.
/// A Mattermost error with a 4xx status is the server's answer and stays one.
export function isRetryable(error: unknown): boolean {
    const status = (error as { status_code?: number })?.status_code;
    return status === undefined || status === 0 || status === 429 || status >= 500;
}
