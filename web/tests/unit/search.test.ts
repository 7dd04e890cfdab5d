import { test } from 'node:test';
import assert from 'node:assert/strict';
import { highlight, highlightTerms } from '../../src/logic/search';
import { endsSession } from '../../src/logic/session';

test('the words and phrases of a query are highlighted; from:, in: and -excluded are not', () => {
    assert.deepEqual(highlightTerms('deploy "release notes" from:alice in:town-square rel* -draft'), ['deploy', 'release notes', 'rel*']);
    assert.deepEqual(highlightTerms('  '), []);
    assert.deepEqual(highlightTerms('#hashtag done.'), ['hashtag', 'done']);
});

test('matches are marked case-insensitively at word starts, prefixes with *', () => {
    const marked = (text: string, terms: string[]) =>
        highlight(text, terms).map((s) => (s.match ? `[${s.text}]` : s.text)).join('');
    assert.equal(marked('Deploy the release notes today', ['deploy', 'release notes']), '[Deploy] the [release notes] today');
    assert.equal(marked('redeploy', ['deploy']), 'redeploy', 'not inside a word');
    assert.equal(marked('release released relax', ['rel*']), '[release] [released] [relax]');
    assert.equal(marked('a (b) c', ['(b)']), 'a [(b)] c', 'regex characters are literal');
    assert.equal(marked('nothing here', []), 'nothing here');
    assert.equal(marked('Grüße aus Köln', ['köln']), 'Grüße aus [Köln]');
});

test('a 401 ends the session, except a failed login', () => {
    assert.equal(endsSession(401, 'http://x/api/v4/users/me', true), true);
    assert.equal(endsSession(401, 'http://x/api/v4/users/login', true), false);
    assert.equal(endsSession(401, 'http://x/api/v4/users/me', false), false, 'not logged in');
    assert.equal(endsSession(403, 'http://x/api/v4/channels/c', true), false);
    assert.equal(endsSession(undefined, 'http://x/api/v4/users/me', true), false, 'a network error is not the end');
});
