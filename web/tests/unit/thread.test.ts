import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyThreadEvent, refetchedThread, withReaction } from '../../src/logic/thread';
import type { Post } from '../../src/state';

const post = (id: string, createAt: number, extra: Partial<Post> = {}): Post =>
    ({ id, channel_id: 'c', user_id: 'u', message: id, create_at: createAt, ...extra });
const event = (name: string, data: Record<string, unknown>) => ({ event: name, data });
const apply = (posts: Post[], change: ReturnType<typeof applyThreadEvent>) => {
    assert.equal(typeof change, 'function');
    return (change as (p: Post[]) => Post[])(posts);
};

const thread = [post('root', 1), post('r1', 2, { root_id: 'root' })];

test('a reply to the thread joins it, once, in order; other posts do not', () => {
    const reply = post('r2', 3, { root_id: 'root' });
    const once = apply(thread, applyThreadEvent('root', event('posted', { post: JSON.stringify(reply) })));
    const twice = apply(once, applyThreadEvent('root', event('posted', { post: JSON.stringify(reply) })));
    assert.deepEqual(twice.map((p) => p.id), ['root', 'r1', 'r2']);
    assert.equal(applyThreadEvent('root', event('posted', { post: JSON.stringify(post('x', 4)) })), null, 'a channel post');
    assert.equal(applyThreadEvent('root', event('posted', { post: JSON.stringify(post('y', 4, { root_id: 'other' })) })), null, 'another thread');
    assert.equal(applyThreadEvent('root', event('typing', {})), null);
    assert.equal(applyThreadEvent('root', event('posted', { post: '{not json' })), null);
});

test('edits replace the post; a deleted reply leaves; the deleted root is reported', () => {
    const edited = post('r1', 2, { root_id: 'root', message: 'edited', update_at: 9 });
    const afterEdit = apply(thread, applyThreadEvent('root', event('post_edited', { post: JSON.stringify(edited) })));
    assert.equal(afterEdit.find((p) => p.id === 'r1')?.message, 'edited');
    const afterDelete = apply(afterEdit, applyThreadEvent('root', event('post_deleted', { post: JSON.stringify(edited) })));
    assert.deepEqual(afterDelete.map((p) => p.id), ['root']);
    assert.equal(applyThreadEvent('root', event('post_deleted', { post: JSON.stringify(post('root', 1)) })), 'root-deleted');
});

test('reactions on the thread\'s posts are added once and removed; others leave the list as it is', () => {
    const reaction = { user_id: 'u2', post_id: 'r1', emoji_name: 'smile', create_at: 5 };
    const added = apply(thread, applyThreadEvent('root', event('reaction_added', { reaction: JSON.stringify(reaction) })));
    const again = apply(added, applyThreadEvent('root', event('reaction_added', { reaction: JSON.stringify(reaction) })));
    assert.deepEqual(again.find((p) => p.id === 'r1')?.metadata?.reactions?.map((r) => r.emoji_name), ['smile']);
    const removed = apply(again, applyThreadEvent('root', event('reaction_removed', { reaction: JSON.stringify(reaction) })));
    assert.deepEqual(removed.find((p) => p.id === 'r1')?.metadata?.reactions, []);
    const elsewhere = { ...reaction, post_id: 'nope' };
    assert.equal(apply(thread, applyThreadEvent('root', event('reaction_added', { reaction: JSON.stringify(elsewhere) }))), thread);
    assert.deepEqual(withReaction(post('p', 1), reaction, true).metadata?.reactions, [reaction]);
});

test('a thread fetched again after a reconnect drops what was deleted meanwhile, keeps what arrived live since, and gains what was missed', () => {
    const current = [post('root', 1), post('gone', 2, { root_id: 'root' }), post('live', 50, { root_id: 'root' })];
    const fetched = [post('root', 1), post('missed', 3, { root_id: 'root' })];
    assert.deepEqual(refetchedThread(current, fetched, 40).map((p) => p.id), ['root', 'missed', 'live']);
    assert.deepEqual(refetchedThread(current, [...fetched, post('live', 50, { root_id: 'root' })], 40).map((p) => p.id), ['root', 'missed', 'live'], 'once');
});
