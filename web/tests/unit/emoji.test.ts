import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { CATEGORIES, emojiFor, knownNames, pushRecent, searchEmoji, splitShortcodes } from '../../src/logic/emoji';

test('every name in the table is one the server accepts for a reaction (system_emoji.rs)', () => {
    const source = readFileSync(new URL('../../../crates/model/src/system_emoji.rs', `file://${process.cwd()}/tests/unit/`), 'utf8');
    const serverNames = new Set([...source.matchAll(/^\s*"([^"]+)",$/gm)].map((m) => m[1]));
    assert.ok(serverNames.size > 1500, `read the server's names (${serverNames.size})`);
    const unknown = knownNames().filter((name) => !serverNames.has(name));
    assert.deepEqual(unknown, []);
});

test('a few hundred emoji, each name once', () => {
    const all = CATEGORIES.flatMap((c) => c.emoji);
    assert.ok(all.length > 300);
    assert.equal(new Set(all).size, all.length);
    assert.equal(emojiFor('+1'), '👍');
    assert.equal(emojiFor('thumbsup'), '👍', 'aliases');
    assert.equal(emojiFor('no_such_emoji'), undefined);
});

test('search finds by a part of the name, word starts first', () => {
    assert.equal(searchEmoji('tad')[0], 'tada');
    assert.ok(searchEmoji('heart').includes('heart_eyes'));
    assert.ok(searchEmoji('thumbs').includes('+1'), 'aliases are searchable');
    assert.deepEqual(searchEmoji('zzzzqq'), []);
    assert.ok(searchEmoji('').length > 300);
});

test(':shortcodes: become emoji, unknown ones stay text', () => {
    assert.deepEqual(splitShortcodes('ship it :rocket: :nope: ok'), [
        { text: 'ship it ' }, { emoji: '🚀', name: 'rocket' }, { text: ' :nope: ok' },
    ]);
    assert.deepEqual(splitShortcodes(':x::smile:'), [{ emoji: '❌', name: 'x' }, { emoji: '😄', name: 'smile' }]);
    assert.deepEqual(splitShortcodes('10:30:45'), [{ text: '10:30:45' }]);
});

test('recently used: most recent first, each once, bounded', () => {
    assert.deepEqual(pushRecent(['a', 'b', 'c'], 'b'), ['b', 'a', 'c']);
    assert.deepEqual(pushRecent(['a', 'b'], 'c', 2), ['c', 'a']);
});
