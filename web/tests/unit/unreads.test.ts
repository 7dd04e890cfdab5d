import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
    channelName, channelUrlName, directPartnerId, favoriteMove, isStale, pageTitle, isUnread, mentionCount, parseMentions, posted, sidebarCategories,
    teamMarks, unreadMessages, viewed,
} from '../../src/logic/unreads';
import type { Category, Channel, ChannelMember, Post, User } from '../../src/state';

const channel = (id: string, extra: Partial<Channel> = {}): Channel =>
    ({ id, name: id, display_name: id.toUpperCase(), type: 'O', team_id: 't', total_msg_count: 0, ...extra });
const member = (channelId: string, extra: Partial<ChannelMember> = {}): ChannelMember =>
    ({ channel_id: channelId, user_id: 'me', msg_count: 0, mention_count: 0, last_viewed_at: 0, ...extra });
const post = (extra: Partial<Post> = {}): Post =>
    ({ id: 'p', channel_id: 'c', user_id: 'bob', message: 'hi', create_at: 100, ...extra });

test('unread is total messages minus the ones I read; mentions come from my membership', () => {
    assert.equal(unreadMessages(channel('c', { total_msg_count: 5 }), member('c', { msg_count: 3 })), 2);
    assert.equal(unreadMessages(channel('c', { total_msg_count: 3 }), member('c', { msg_count: 5 })), 0, 'never negative');
    assert.equal(isUnread(channel('c', { total_msg_count: 3 }), member('c', { msg_count: 3 })), false);
    assert.equal(isUnread(channel('c', { total_msg_count: 4 }), member('c', { msg_count: 3 })), true);
    assert.equal(mentionCount(member('c', { mention_count: 2 })), 2);
    assert.equal(isUnread(undefined, undefined), false);
});

test('a channel set to "mark unread: mentions only" is unread only with a mention', () => {
    const quiet = member('c', { msg_count: 1, notify_props: { mark_unread: 'mention' } });
    assert.equal(isUnread(channel('c', { total_msg_count: 9 }), quiet), false);
    assert.equal(isUnread(channel('c', { total_msg_count: 9 }), { ...quiet, mention_count: 1 }), true);
});

test("someone else's post makes a channel I am not viewing unread; a mention raises the badge", () => {
    const c = channel('c', { total_msg_count: 3 });
    const m = member('c', { msg_count: 3 });
    const plain = posted(c, m, post(), { myId: 'me', viewing: false, mentions: [] });
    assert.equal(plain.channel.total_msg_count, 4);
    assert.equal(plain.channel.last_post_at, 100);
    assert.equal(isUnread(plain.channel, plain.member), true);
    assert.equal(mentionCount(plain.member), 0);
    const mention = posted(plain.channel, plain.member, post({ create_at: 200 }), { myId: 'me', viewing: false, mentions: ['me'] });
    assert.equal(mentionCount(mention.member), 1);
    assert.equal(unreadMessages(mention.channel, mention.member), 2);
    const other = posted(mention.channel, mention.member, post({ create_at: 300 }), { myId: 'me', viewing: false, mentions: ['carol'] });
    assert.equal(mentionCount(other.member), 1, "a mention of someone else is not mine");
    assert.equal(unreadMessages(other.channel, other.member), 3);
});

test('posts in the channel I am viewing, and my own posts, stay read', () => {
    const c = channel('c', { total_msg_count: 3 });
    const viewing = posted(c, member('c', { msg_count: 3 }), post(), { myId: 'me', viewing: true, mentions: ['me'] });
    assert.equal(isUnread(viewing.channel, viewing.member), false);
    assert.equal(mentionCount(viewing.member), 0);
    const mine = posted(c, member('c', { msg_count: 3 }), post({ user_id: 'me' }), { myId: 'me', viewing: false, mentions: [] });
    assert.equal(isUnread(mine.channel, mine.member), false);
    const mineWithOlderUnread = posted(c, member('c', { msg_count: 2 }), post({ user_id: 'me' }), { myId: 'me', viewing: false, mentions: [] });
    assert.equal(unreadMessages(mineWithOlderUnread.channel, mineWithOlderUnread.member), 1, 'what was unread stays unread');
});

test('every post from someone else in a direct or group message counts as a mention', () => {
    for (const type of ['D', 'G']) {
        const c = channel('c', { type, total_msg_count: 0 });
        const next = posted(c, member('c'), post(), { myId: 'me', viewing: false, mentions: [] });
        assert.equal(mentionCount(next.member), 1, type);
    }
});

test('viewing a channel reads it: no unread, no mentions', () => {
    const c = channel('c', { total_msg_count: 7 });
    const m = viewed(c, member('c', { msg_count: 2, mention_count: 3, last_viewed_at: 5 }), 50);
    assert.equal(isUnread(c, m), false);
    assert.equal(m.mention_count, 0);
    assert.equal(m.last_viewed_at, 50);
});

test('mentions of a posted event are a JSON list (or absent, or malformed)', () => {
    assert.deepEqual(parseMentions('["a","b"]'), ['a', 'b']);
    assert.deepEqual(parseMentions(undefined), []);
    assert.deepEqual(parseMentions(''), []);
    assert.deepEqual(parseMentions('not json'), []);
    assert.deepEqual(parseMentions(['x', 3]), ['x']);
});

test('a direct message is named after the other person; a group after its members', () => {
    const users = new Map<string, User>([
        ['me', { id: 'me', username: 'alice', roles: '' }], ['bob', { id: 'bob', username: 'bob', roles: '' }],
        ['carol', { id: 'carol', username: 'carol', roles: '' }],
    ]);
    const dm = channel('d', { type: 'D', name: 'bob__me', display_name: '' });
    assert.equal(directPartnerId(dm, 'me'), 'bob');
    assert.equal(channelName(dm, 'me', users), 'bob');
    assert.equal(channelName(channel('s', { type: 'D', name: 'me__me' }), 'me', users), 'alice (you)');
    assert.equal(channelName(channel('d2', { type: 'D', name: 'me__zed', display_name: '' }), 'me', users), '…', 'unknown person');
    const gm = channel('g', { type: 'G', display_name: 'alice, bob, carol' });
    assert.equal(channelName(gm, 'me', users, [users.get('carol')!, users.get('me')!, users.get('bob')!]), 'bob, carol');
    assert.equal(channelName(gm, 'me', users), 'bob, carol', 'the server names all members; I am left out');
    assert.equal(channelName(gm, 'zed', users), 'alice, bob, carol', 'someone whose profile is not known yet');
    assert.equal(directPartnerId(channel('o'), 'me'), null);
});

test('categories keep the server order; channels no category names go by type; sorting', () => {
    const channels = new Map<string, Channel>([
        ['b', channel('b', { display_name: 'beta' })],
        ['a', channel('a', { display_name: 'Alpha' })],
        ['f', channel('f', { display_name: 'fav' })],
        ['new', channel('new', { display_name: 'Zeta', type: 'P' })],
        ['d1', channel('d1', { type: 'D', name: 'me__x', last_post_at: 10 })],
        ['d2', channel('d2', { type: 'D', name: 'me__y', last_post_at: 20 })],
        ['gone', channel('gone', { delete_at: 5 })],
    ]);
    const categories: Category[] = [
        { id: 'cf', type: 'favorites', display_name: 'Favorites', channel_ids: ['f'] },
        { id: 'cc', type: 'channels', display_name: 'Channels', channel_ids: ['b', 'a', 'gone'] },
        { id: 'cd', type: 'direct_messages', display_name: 'Direct Messages', channel_ids: ['d1'] },
    ];
    const result = sidebarCategories(categories, channels, (c) => c.display_name);
    assert.deepEqual(result.map((c) => c.name), ['Favorites', 'Channels', 'Direct Messages']);
    assert.deepEqual(result[0].channels.map((c) => c.id), ['f']);
    assert.deepEqual(result[1].channels.map((c) => c.id), ['a', 'b', 'new'], 'alphabetical, the new private channel included, the deleted one not');
    assert.deepEqual(result[2].channels.map((c) => c.id), ['d2', 'd1'], 'direct messages: most recent first');

    const manual = sidebarCategories([{ ...categories[1], sorting: 'manual' }], channels, (c) => c.display_name);
    assert.deepEqual(manual[0].channels.slice(0, 2).map((c) => c.id), ['b', 'a']);

    const noFavorites = sidebarCategories([{ ...categories[0], channel_ids: [] }, categories[1], categories[2]], channels, (c) => c.display_name);
    assert.deepEqual(noFavorites.map((c) => c.type), ['channels', 'direct_messages'], 'an empty Favorites is hidden');
    assert.ok(noFavorites[0].channels.some((c) => c.id === 'f'));

    const fallback = sidebarCategories([], channels, (c) => c.display_name);
    assert.deepEqual(fallback.map((c) => c.type), ['channels', 'direct_messages'], 'without categories, the defaults');
});

test('team marks: unread when any message or mention is unread', () => {
    assert.deepEqual(teamMarks(undefined), { unread: false, mentions: 0 });
    assert.deepEqual(teamMarks({ msg_count: 2, mention_count: 0 }), { unread: true, mentions: 0 });
    assert.deepEqual(teamMarks({ msg_count: 0, mention_count: 3 }), { unread: true, mentions: 3 });
});

test('a channel URL name follows its display name', () => {
    assert.equal(channelUrlName('  Release Planning 2026! '), 'release-planning-2026');
    assert.equal(channelUrlName('Ops / On-call'), 'ops-on-call');
    assert.equal(channelUrlName('日本'), '');
});

test('favoriting moves a channel from its category to the top of Favorites, and back', () => {
    const categories: Category[] = [
        { id: 'cf', type: 'favorites', display_name: 'Favorites', channel_ids: ['x'] },
        { id: 'cc', type: 'channels', display_name: 'Channels', channel_ids: ['a', 'b'] },
        { id: 'cd', type: 'direct_messages', display_name: 'Direct Messages', channel_ids: ['d'] },
    ];
    assert.deepEqual(favoriteMove(categories, channel('b')).map((c) => [c.id, c.channel_ids]), [['cc', ['a']], ['cf', ['b', 'x']]]);
    assert.deepEqual(favoriteMove(categories, channel('x')).map((c) => [c.id, c.channel_ids]), [['cf', []], ['cc', ['x', 'a', 'b']]]);
    assert.deepEqual(favoriteMove(categories, channel('x', { type: 'D' })).map((c) => c.id), ['cf', 'cd'], 'a DM goes back to Direct Messages');
    assert.deepEqual(favoriteMove(categories, channel('new')).map((c) => [c.id, c.channel_ids]), [['cf', ['new', 'x']]], 'a channel in no category yet');
    assert.deepEqual(favoriteMove([], channel('a')), [], 'no categories, nothing to save');
});

test('the tab title counts mentions elsewhere, else marks unread, then names the channel and team', () => {
    assert.equal(pageTitle('Town Square', 'Acme', 0, false), 'Town Square - Acme | Chorus');
    assert.equal(pageTitle('Town Square', 'Acme', 0, true), '* Town Square - Acme | Chorus');
    assert.equal(pageTitle('Town Square', 'Acme', 3, true), '(3) Town Square - Acme | Chorus');
    assert.equal(pageTitle('', '', 0, false), 'Chorus');
});

test('a post the fetched channel already counts is not counted twice; a stale fetch loses', () => {
    const fetched = channel('d', { type: 'D', total_msg_count: 1, last_post_at: 100 });
    const m = member('d', { msg_count: 0, mention_count: 1 });
    const again = posted(fetched, m, post({ create_at: 100 }), { myId: 'me', viewing: false, mentions: [] });
    assert.equal(again.channel.total_msg_count, 1);
    assert.equal(mentionCount(again.member), 1);
    const newer = posted(fetched, m, post({ id: 'p2', create_at: 101 }), { myId: 'me', viewing: false, mentions: [] });
    assert.equal(newer.channel.total_msg_count, 2);
    assert.equal(mentionCount(newer.member), 2);
    const onScreen = posted(fetched, m, post({ create_at: 100 }), { myId: 'me', viewing: true, mentions: [] });
    assert.equal(isUnread(onScreen.channel, onScreen.member), false);

    assert.equal(isStale(channel('c', { total_msg_count: 1 }), channel('c', { total_msg_count: 2 })), true);
    assert.equal(isStale(channel('c', { total_msg_count: 2 }), channel('c', { total_msg_count: 2 })), false);
    assert.equal(isStale(channel('c', { total_msg_count: 0 }), undefined), false);
});
