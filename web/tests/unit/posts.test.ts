import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mergePosts, postsOf } from '../../src/logic/posts';
import type { Post } from '../../src/state';

const post = (id: string, createAt: number, extra: Partial<Post> = {}): Post =>
    ({ id, channel_id: 'c', user_id: 'u', message: id, create_at: createAt, ...extra });

test('posts from a fetch and from the websocket are kept once, oldest first', () => {
    const fetched = [post('b', 2), post('a', 1)];
    const live = [post('c', 3), post('b', 2)];
    assert.deepEqual(mergePosts(mergePosts([], fetched), live).map((p) => p.id), ['a', 'b', 'c']);
});

test('the echo of my own pending post replaces the placeholder with the same pending_post_id', () => {
    const placeholder = post('tmp', 5, { pending_post_id: 'u:1' });
    const echo = post('real', 6, { pending_post_id: 'u:1' });
    assert.deepEqual(mergePosts([post('a', 1), placeholder], [echo]).map((p) => p.id), ['a', 'real']);
});

test('an edit replaces the post, and an older copy arriving late does not undo it', () => {
    const edited = post('a', 1, { message: 'edited', update_at: 10 });
    const stale = post('a', 1, { message: 'original', update_at: 1 });
    const merged = mergePosts(mergePosts([post('a', 1, { update_at: 1 })], [edited]), [stale]);
    assert.equal(merged.length, 1);
    assert.equal(merged[0].message, 'edited');
});

test('posts created in the same millisecond keep a stable order', () => {
    const one = mergePosts([], [post('y', 1), post('x', 1)]);
    const other = mergePosts([], [post('x', 1), post('y', 1)]);
    assert.deepEqual(one.map((p) => p.id), other.map((p) => p.id));
});

test('a post list answer becomes posts in its order, skipping ids it does not carry', () => {
    const list = { order: ['b', 'a', 'gone'], posts: { a: post('a', 1), b: post('b', 2) } as Record<string, Post> };
    assert.deepEqual(postsOf(list).map((p) => p.id), ['b', 'a']);
});
