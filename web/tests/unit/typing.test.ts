import { test } from 'node:test';
import assert from 'node:assert/strict';
import { addTyping, expireTyping, removeTyping, typingKey, typingText } from '../../src/logic/typing';
import { applyStatuses } from '../../src/logic/presence';

test('typing entries are per channel and thread, expire, and end when the person posts', () => {
    const key = typingKey('c1');
    let typing = addTyping(new Map(), key, 'bob', 5000);
    typing = addTyping(typing, key, 'carol', 8000);
    typing = addTyping(typing, typingKey('c1', 'root'), 'dan', 5000);
    assert.deepEqual([...typing.get(key)!.keys()], ['bob', 'carol']);
    const later = expireTyping(typing, 6000);
    assert.deepEqual([...later.get(key)!.keys()], ['carol']);
    assert.equal(later.has(typingKey('c1', 'root')), false);
    assert.equal(expireTyping(later, 6000), later, 'unchanged when nothing expired');
    assert.equal(removeTyping(later, key, 'carol').has(key), false);
});

test('typing text', () => {
    assert.equal(typingText([]), '');
    assert.equal(typingText(['bob']), 'bob is typing…');
    assert.equal(typingText(['bob', 'carol']), 'bob and carol are typing…');
    assert.equal(typingText(['a', 'b', 'c']), 'a, b and c are typing…');
    assert.equal(typingText(['a', 'b', 'c', 'd', 'e']), 'a, b and 3 others are typing…');
});

test('statuses update only what changed', () => {
    const current = new Map([['bob', 'online']]);
    assert.equal(applyStatuses(current, [{ user_id: 'bob', status: 'online' }]), current);
    const next = applyStatuses(current, [{ user_id: 'bob', status: 'away' }, { user_id: 'carol', status: 'dnd' }]);
    assert.deepEqual([...next], [['bob', 'away'], ['carol', 'dnd']]);
    assert.equal(current.get('bob'), 'online', 'the old map is left alone');
});
