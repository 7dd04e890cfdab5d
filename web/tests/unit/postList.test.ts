import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
    addPost, applyChanges, applyReaction, COLLAPSE_WITHIN_MS, dateLabel, firstUnreadId, groupReactions, layoutPosts, removePost,
} from '../../src/logic/postList';
import type { Post, Reaction } from '../../src/state';

const post = (id: string, createAt: number, extra: Partial<Post> = {}): Post =>
    ({ id, channel_id: 'c', user_id: 'u', message: id, create_at: createAt, ...extra });
const reaction = (user: string, name: string, at = 1): Reaction => ({ user_id: user, post_id: 'a', emoji_name: name, create_at: at });

test('a new reply counts on its root once, however many times it arrives', () => {
    let posts = [post('root', 1, { reply_count: 2 })];
    const reply = post('r', 2, { root_id: 'root' });
    posts = addPost(posts, reply);
    posts = addPost(posts, reply);
    assert.equal(posts.find((p) => p.id === 'root')!.reply_count, 3);
    assert.deepEqual(posts.map((p) => p.id), ['root', 'r']);
});

test('a deleted root takes its replies with it; a deleted reply no longer counts', () => {
    const posts = [post('root', 1, { reply_count: 1 }), post('r', 2, { root_id: 'root' }), post('b', 3)];
    assert.deepEqual(removePost(posts, { id: 'root' }).map((p) => p.id), ['b']);
    const withoutReply = removePost(posts, { id: 'r' });
    assert.equal(withoutReply.find((p) => p.id === 'root')!.reply_count, 0);
    assert.equal(removePost(posts, { id: 'unknown' }), posts, 'unchanged when the post is not shown');
});

test('reactions are added once per person and emoji, and removed', () => {
    let posts = [post('a', 1)];
    posts = applyReaction(posts, reaction('u1', 'tada'), true);
    posts = applyReaction(posts, reaction('u1', 'tada'), true);
    posts = applyReaction(posts, reaction('u2', 'tada'), true);
    assert.equal(posts[0].metadata!.reactions!.length, 2);
    posts = applyReaction(posts, reaction('u1', 'tada'), false);
    assert.deepEqual(posts[0].metadata!.reactions!.map((r) => r.user_id), ['u2']);
    const other = [post('b', 1)];
    assert.equal(applyReaction(other, reaction('u1', 'tada'), true), other);
});

test('reactions group by emoji in first-use order, with my own marked', () => {
    const groups = groupReactions([reaction('u2', 'tada', 5), reaction('me', '+1', 3), reaction('u2', '+1', 4)], 'me');
    assert.deepEqual(groups.map((g) => [g.name, g.count, g.mine]), [['+1', 2, true], ['tada', 1, false]]);
    assert.deepEqual(groupReactions(undefined, 'me'), []);
});

test('the new messages line goes above the first post by someone else newer than my last view', () => {
    const posts = [post('a', 10, { user_id: 'x' }), post('b', 20, { user_id: 'me' }), post('c', 30, { user_id: 'x' })];
    assert.equal(firstUnreadId(posts, 15, 'me'), 'c');
    assert.equal(firstUnreadId(posts, 5, 'me'), 'a');
    assert.equal(firstUnreadId(posts, 30, 'me'), null);
    assert.equal(firstUnreadId(posts, null, 'me'), null);
});

test('layout: date separators, the new line, consecutive posts of one author collapse', () => {
    const day = new Date(2026, 11, 4, 10, 0).getTime();
    const posts = [
        post('a', day - 24 * 3600 * 1000, { user_id: 'x' }),
        post('b', day, { user_id: 'x' }),
        post('c', day + 60_000, { user_id: 'x' }),
        post('d', day + 60_000 + COLLAPSE_WITHIN_MS, { user_id: 'x' }),
        post('e', day + 2 * COLLAPSE_WITHIN_MS, { user_id: 'y' }),
        post('f', day + 2 * COLLAPSE_WITHIN_MS + 1000, { user_id: 'y', root_id: 'e' }),
        post('g', day + 2 * COLLAPSE_WITHIN_MS + 2000, { user_id: 'y' }),
    ];
    const rows = layoutPosts(posts, 'g', day + 3 * COLLAPSE_WITHIN_MS);
    const shape = rows.map((row) => (row.kind === 'post' ? `${row.post.id}${row.consecutive ? '+' : ''}` : row.kind === 'date' ? `[${row.label}]` : '---'));
    assert.deepEqual(shape, ['[Yesterday]', 'a', '[Today]', 'b', 'c+', 'd', 'e', 'f', '---', 'g']);
});

test('date labels: today, yesterday, a date, with the year only when it is another year', () => {
    const now = new Date(2026, 11, 4, 9, 0).getTime();
    assert.equal(dateLabel(new Date(2026, 11, 4, 0, 1).getTime(), now), 'Today');
    assert.equal(dateLabel(new Date(2026, 11, 3, 23, 59).getTime(), now), 'Yesterday');
    assert.equal(dateLabel(new Date(2026, 10, 2, 12, 0).getTime(), now), 'Mon, Nov 02');
    assert.match(dateLabel(new Date(2025, 10, 2, 12, 0).getTime(), now), /2025/);
});

test('after a reconnect, what changed meanwhile applies: new posts added, edits replace, deletions remove', () => {
    const shown = [post('a', 1, { update_at: 1 }), post('b', 2, { update_at: 2 }), post('c', 3, { update_at: 3 })];
    const changed = [
        post('b', 2, { update_at: 9, message: 'b edited', edit_at: 9 }),
        post('c', 3, { update_at: 10, delete_at: 10, message: '' }),
        post('d', 4, { update_at: 4 }),
    ];
    const next = applyChanges(shown, changed);
    assert.deepEqual(next.map((p) => `${p.id}:${p.message}`), ['a:a', 'b:b edited', 'd:d']);
    assert.deepEqual(applyChanges(next, changed).map((p) => p.id), ['a', 'b', 'd'], 'applying twice changes nothing');
});
