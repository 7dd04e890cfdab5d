// Posts on their way to the server. A post keeps the pending_post_id it was given when it was
// typed, so sending it again after a failure (the node died, NGINX answered 502, the network
// dropped) cannot make a second post: the server answers a repeated pending_post_id with the
// post it already made. The page shows pending posts at once, marked as sending, and a post
// that could not be sent with a Retry.

import { signal } from '@preact/signals';
import { client, isRetryable, errorMessage } from '../api';
import type { Post } from '../state';

export type Pending = { post: Post; state: 'sending' | 'failed'; error?: string };

/// Posts sent but not yet acknowledged, by pending_post_id.
export const pending = signal<Map<string, Pending>>(new Map());

const RETRY_DELAYS_MS = [250, 500, 1000, 2000, 3000, 5000];
/// How long a post is retried before it is shown as failed (with a Retry button).
const GIVE_UP_AFTER_MS = 120_000;

function setPending(id: string, entry: Pending | null) {
    const next = new Map(pending.value);
    if (entry) {
        next.set(id, entry);
    } else {
        next.delete(id);
    }
    pending.value = next;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/// Sends `post` (which carries its pending_post_id), retrying while the failure is one a retry
/// can cure. Resolves with the server's post; rejects with the server's error otherwise.
export async function sendPost(post: Post, createPost: (post: Post) => Promise<Post> = (p) => client.createPost(p)): Promise<Post> {
    const id = post.pending_post_id!;
    setPending(id, { post, state: 'sending' });
    const started = Date.now();
    for (let attempt = 0; ; attempt++) {
        try {
            const created = await createPost(post);
            setPending(id, null);
            return created;
        } catch (error) {
            if (!isRetryable(error) || Date.now() - started > GIVE_UP_AFTER_MS) {
                setPending(id, { post, state: 'failed', error: errorMessage(error) });
                throw error;
            }
            await sleep(RETRY_DELAYS_MS[Math.min(attempt, RETRY_DELAYS_MS.length - 1)]);
        }
    }
}

/// Sends a failed post again, with the same pending_post_id.
export function retryPost(pendingPostId: string): Promise<Post> | null {
    const entry = pending.value.get(pendingPostId);
    return entry ? sendPost(entry.post) : null;
}

/// Forgets a failed post the person chose to discard.
export function discardPost(pendingPostId: string) {
    setPending(pendingPostId, null);
}
