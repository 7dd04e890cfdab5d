import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyMention, mentionQueryAt, mentionsUser, splitMentions } from '../../src/logic/mentions';

test('@mentions are found in text; emails are not mentions; a sentence-ending dot is not part of the name', () => {
    assert.deepEqual(splitMentions('hi @alice and @bob.smith.'), [
        { text: 'hi ' }, { mention: 'alice' }, { text: ' and ' }, { mention: 'bob.smith' }, { text: '.' },
    ]);
    assert.deepEqual(splitMentions('mail me at a@b.com'), [{ text: 'mail me at a@b.com' }]);
    assert.deepEqual(splitMentions('(@Carol)'), [{ text: '(' }, { mention: 'carol' }, { text: ')' }]);
});

test('a message mentions me by name or by @channel, @all, @here', () => {
    assert.ok(mentionsUser('ping @alice', 'alice'));
    assert.ok(mentionsUser('@here standup', 'alice'));
    assert.ok(!mentionsUser('ping @alicea', 'alice'));
    assert.ok(!mentionsUser('alice@example.com', 'alice'));
});

test('autocomplete: the @word at the caret, and completing it', () => {
    assert.deepEqual(mentionQueryAt('hi @al', 6), { start: 3, query: 'al' });
    assert.deepEqual(mentionQueryAt('@', 1), { start: 0, query: '' });
    assert.equal(mentionQueryAt('a@b', 3), null);
    assert.equal(mentionQueryAt('hi @al there', 12), null);
    assert.deepEqual(applyMention('hi @al', 6, 3, 'alice'), { text: 'hi @alice ', caret: 10 });
    assert.deepEqual(applyMention('hi @al there', 6, 3, 'alice'), { text: 'hi @alice there', caret: 10 });
});
