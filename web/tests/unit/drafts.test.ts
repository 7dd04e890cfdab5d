import { test } from 'node:test';
import assert from 'node:assert/strict';
import { draftKey, Drafts } from '../../src/logic/drafts';

function memoryStorage() {
    const items = new Map<string, string>();
    return {
        items,
        getItem: (key: string) => items.get(key) ?? null,
        setItem: (key: string, value: string) => { items.set(key, value); },
        removeItem: (key: string) => { items.delete(key); },
    };
}

test('each channel and each thread keeps its own draft', () => {
    const drafts = new Drafts(memoryStorage());
    drafts.set(draftKey('u1', 'c1'), 'to channel one');
    drafts.set(draftKey('u1', 'c1', 'root'), 'to the thread');
    drafts.set(draftKey('u1', 'c2'), 'to channel two');
    assert.equal(drafts.get(draftKey('u1', 'c1')), 'to channel one');
    assert.equal(drafts.get(draftKey('u1', 'c1', 'root')), 'to the thread');
    assert.equal(drafts.get(draftKey('u1', 'c2')), 'to channel two');
    assert.equal(drafts.get(draftKey('u1', 'c3')), '');
    assert.equal(drafts.get(draftKey('u2', 'c1')), '', 'someone else on the same browser has their own');
});

test('a draft outlives the page (localStorage) and a sent one is forgotten there too', () => {
    const storage = memoryStorage();
    new Drafts(storage).set('c1', 'half-written');
    const afterReload = new Drafts(storage);
    assert.equal(afterReload.get('c1'), 'half-written');
    afterReload.clear('c1');
    assert.equal(storage.items.size, 0);
    assert.equal(new Drafts(storage).get('c1'), '');
});

test('a full or disabled storage still keeps the draft in memory', () => {
    const broken = {
        getItem: () => { throw new Error('SecurityError'); },
        setItem: () => { throw new Error('QuotaExceededError'); },
        removeItem: () => { throw new Error('SecurityError'); },
    };
    const drafts = new Drafts(broken);
    assert.equal(drafts.get('c1'), '');
    drafts.set('c1', 'still here');
    assert.equal(drafts.get('c1'), 'still here');
    assert.equal(new Drafts(null).get('c1'), '');
});
