import { test } from 'node:test';
import assert from 'node:assert/strict';
import { discardPost, pending, sendPost } from '../../src/logic/outbox';
import type { Post } from '../../src/state';

const draft = (pendingPostId: string): Post =>
    ({ id: '', channel_id: 'c', user_id: 'u', message: 'hi', create_at: 1, pending_post_id: pendingPostId });

test('a post that hits a dead node is sent again with the same pending_post_id, and made once', async () => {
    const seen: string[] = [];
    const made = new Map<string, Post>();
    let failures = 2;
    const server = async (post: Post) => {
        seen.push(post.pending_post_id!);
        if (failures-- > 0) {
            throw new TypeError('Failed to fetch');
        }
        const existing = made.get(post.pending_post_id!) ?? { ...post, id: `p${made.size + 1}` };
        made.set(post.pending_post_id!, existing);
        return existing;
    };
    const created = await sendPost(draft('u:1'), server);
    assert.equal(created.id, 'p1');
    assert.deepEqual(seen, ['u:1', 'u:1', 'u:1']);
    assert.equal(made.size, 1);
    assert.equal(pending.value.size, 0, 'nothing left pending');
});

test('NGINX 502 pages and 503s are retried; a 4xx answer is not', async () => {
    let calls = 0;
    const busy = async (post: Post) => {
        calls++;
        if (calls === 1) {
            throw Object.assign(new Error('Bad Gateway'), { status_code: undefined });
        }
        if (calls === 2) {
            throw Object.assign(new Error('busy'), { status_code: 503 });
        }
        return { ...post, id: 'ok' };
    };
    assert.equal((await sendPost(draft('u:2'), busy)).id, 'ok');

    const refused = async () => {
        throw Object.assign(new Error('You do not have the appropriate permissions.'), { status_code: 403 });
    };
    await assert.rejects(sendPost(draft('u:3'), refused), /permissions/);
    const failed = pending.value.get('u:3');
    assert.equal(failed?.state, 'failed');
    assert.match(failed?.error ?? '', /permissions/);
    discardPost('u:3');
    assert.equal(pending.value.size, 0);
});
