// The channel's posts in a real browser: history that pages backwards on scroll, the "new
// messages" line and notice, editing and deleting live in another browser, reactions through
// the emoji picker, @mentions, the typing indicator and presence dots.
//
//   CHORUS_URL=http://127.0.0.1:8065 CHORUS_ADMIN_USER=… CHORUS_ADMIN_PASSWORD=… \
//     node --test --test-concurrency=1 tests/posts.test.mjs

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import {
    api, CHORUS_URL, copiesShown, launchBrowser, logInThroughThePage, post, postShown, SCREENSHOTS, signUp, teamWith, waitInPage,
} from './helpers.mjs';

let browser;
before(async () => { browser = await launchBrowser(); });
after(async () => { await browser?.close(); });

const tag = () => randomBytes(3).toString('hex');

async function channelByName(team, name, person) {
    return (await api('GET', `/teams/${team.id}/channels/name/${name}`, undefined, person.token)).data;
}

async function apiPost(person, channel, message, extra = {}) {
    return (await api('POST', '/posts', { channel_id: channel.id, message, ...extra }, person.token)).data;
}

/// The id of the shown post whose text contains `text`.
function postIdOf(page, text) {
    return page.$$eval('[id^="postMessageText_"]', (els, t) => {
        const el = els.find((e) => e.textContent.includes(t));
        return el ? el.id.slice('postMessageText_'.length) : null;
    }, text);
}

/// Opens a post's action bar (it shows on hover) and clicks one of its buttons.
async function clickPostAction(page, postId, selector) {
    await page.hover(`#post_${postId}`);
    await page.click(selector);
}

async function openChannel(page, name) {
    await page.click(`#sidebarItem_${name}`);
    await waitInPage(page, `channel ${name} opened`, (n) => window.location.pathname.endsWith(`/channels/${n}`)
        && !document.querySelector('#channel_view .loading'), name);
}

test('scrolling up loads older posts, keeps the place, shows each once; a new post while scrolled up offers a notice', async () => {
    const alice = await signUp('alice');
    const bob = await signUp('bob');
    const team = await teamWith(alice, bob);
    const townSquare = await channelByName(team, 'town-square', alice);
    const run = tag();
    for (let i = 0; i < 150; i++) {
        await apiPost(alice, townSquare, `older ${run} #${String(i).padStart(3, '0')}`);
    }
    const page = await logInThroughThePage(browser, alice.username);
    await postShown(page, `older ${run} #149`);
    const newestAtBottom = await page.$eval('.post-list', (el) => el.scrollHeight - el.scrollTop - el.clientHeight < 60);
    assert.ok(newestAtBottom, 'the channel opens at the bottom');
    assert.equal(await copiesShown(page, `older ${run} #000`), 0, 'the oldest post is not loaded at first');
    const firstCount = await copiesShown(page, `older ${run}`);
    assert.ok(firstCount <= 60, `one page at first (${firstCount})`);

    // Scroll to the top: the page before loads, and the post that was at the top stays in view.
    const topBefore = await page.$eval('[id^="postMessageText_"]', (el) => el.id);
    await page.$eval('.post-list', (el) => { el.scrollTop = 0; });
    await waitInPage(page, 'an older page loaded', (n) => document.querySelectorAll('[id^="postMessageText_"]').length > n, firstCount);
    const kept = await page.$eval('.post-list', (list, id) => {
        const el = document.getElementById(id);
        const top = el.getBoundingClientRect().top - list.getBoundingClientRect().top;
        return top > -50 && top < list.clientHeight;
    }, topBefore);
    assert.ok(kept, 'the post that was at the top is still in view after the older page came in');

    // Keep scrolling up until the oldest shows.
    for (let i = 0; i < 10 && (await copiesShown(page, `older ${run} #000`)) === 0; i++) {
        await page.$eval('.post-list', (el) => { el.scrollTop = 0; });
        await new Promise((resolve) => setTimeout(resolve, 700));
    }
    await postShown(page, `older ${run} #000`);
    const texts = await page.$$eval('[id^="postMessageText_"]', (els) => els.map((el) => el.textContent));
    const ids = await page.$$eval('[id^="post_"]', (els) => els.map((el) => el.id));
    assert.equal(new Set(ids).size, ids.length, 'no post is shown twice');
    const mine = texts.filter((text) => text.includes(`older ${run}`));
    assert.equal(mine.length, 150, 'all 150 posts, each once');
    assert.deepEqual(mine, [...mine].sort(), 'oldest first');
    assert.ok(await page.$('#channelIntro'), 'the beginning of the channel is marked');

    // Scrolled up, a new post arrives: it is not scrolled to, a notice offers it.
    await apiPost(bob, townSquare, `while scrolled up ${run}`);
    await waitInPage(page, 'the new messages notice', () => Boolean(document.querySelector('#newMessagesToast')));
    await postShown(page, `while scrolled up ${run}`);
    await page.click('#newMessagesToast');
    await waitInPage(page, 'back at the bottom', () => {
        const el = document.querySelector('.post-list');
        return el.scrollHeight - el.scrollTop - el.clientHeight < 60 && !document.querySelector('#newMessagesToast');
    });
    await page.close();
});

test('opening a channel with unread posts shows the new messages line above the first unread; mentions of me stand out', async () => {
    const alice = await signUp('alice');
    const bob = await signUp('bob');
    const carol = await signUp('carol');
    const team = await teamWith(alice, bob, carol);
    const offTopic = await channelByName(team, 'off-topic', alice);
    for (const person of [bob, carol]) {
        await api('POST', `/channels/${offTopic.id}/members`, { user_id: person.user.id }, alice.token).catch(() => {});
    }
    const run = tag();
    const plan = await apiPost(bob, offTopic, `Plan for the release ${run}:\n- **freeze** on Friday\n- ship on Monday :rocket:`);
    await api('POST', '/reactions', { user_id: alice.user.id, post_id: plan.id, emoji_name: '+1' }, alice.token);
    await api('POST', '/reactions', { user_id: carol.user.id, post_id: plan.id, emoji_name: '+1' }, carol.token);
    await api('POST', '/reactions', { user_id: carol.user.id, post_id: plan.id, emoji_name: 'tada' }, carol.token);
    const typo = await apiPost(carol, offTopic, `Release notes draft is in the wiki ${run}`);
    await api('PUT', `/posts/${typo.id}/patch`, { message: `Release notes draft is in the wiki, see \`docs/release.md\` ${run}` }, carol.token);
    await apiPost(alice, offTopic, `Sounds good, I will check the migration ${run}`);
    // Alice reads the channel here, then the others write on.
    await api('POST', '/channels/members/me/view', { channel_id: offTopic.id }, alice.token);
    await new Promise((resolve) => setTimeout(resolve, 50));
    const firstUnread = await apiPost(bob, offTopic, `Unread one ${run}: @${alice.username} can you review the migration?`);
    await apiPost(carol, offTopic, `Unread two ${run}, cc @${bob.username}`);
    await apiPost(carol, offTopic, `Unread three ${run} @channel standup in 5`);

    const page = await logInThroughThePage(browser, alice.username);
    await openChannel(page, 'off-topic');
    await postShown(page, `Unread three ${run}`);
    const lineAbove = await page.$eval('#newMessagesLine', (line) => {
        let next = line.nextElementSibling;
        while (next && !next.id.startsWith('post_')) {
            next = next.nextElementSibling;
        }
        return next?.id;
    });
    assert.equal(lineAbove, `post_${firstUnread.id}`, 'the line is above the first post newer than my last visit');
    assert.equal(await page.$$eval('.new-messages-line', (els) => els.length), 1);

    // @alice in bob's post is my mention: highlighted, and the post marked.
    const mention = await page.$eval(`#postMessageText_${firstUnread.id} .mention`, (el) => ({ text: el.textContent, me: el.classList.contains('mention--me') }));
    assert.deepEqual(mention, { text: `@${alice.username}`, me: true });
    assert.ok(await page.$eval(`#post_${firstUnread.id}`, (el) => el.classList.contains('post--mention')), 'the post mentioning me is marked');
    const other = await page.$$eval('.mention', (els, bobName) => els.filter((el) => el.textContent === `@${bobName}`)
        .map((el) => el.classList.contains('mention--me')), bob.username);
    assert.deepEqual(other, [false], 'a mention of someone else is highlighted lightly');
    assert.ok(await page.$$eval('.mention--me', (els) => els.some((el) => el.textContent === '@channel')), '@channel counts as mine');
    // Shortcodes, Markdown, the edited marker, reactions (mine highlighted).
    assert.equal(await page.$eval(`#postMessageText_${plan.id} .emoji`, (el) => el.textContent), '🚀');
    assert.equal(await page.$eval(`#postMessageText_${plan.id} strong`, (el) => el.textContent), 'freeze');
    assert.ok(await page.$(`#postEdited_${typo.id}`), 'the edited post says so');
    assert.deepEqual(await page.$eval(`[id="postReaction_${plan.id}_+1"]`, (el) => [el.dataset.count, el.classList.contains('mine')]), ['2', true]);
    assert.deepEqual(await page.$eval(`#postReaction_${plan.id}_tada`, (el) => [el.dataset.count, el.classList.contains('mine')]), ['1', false]);
    if (SCREENSHOTS) {
        await page.screenshot({ path: `${SCREENSHOTS}/posts.png` });
    }
    await page.close();
});

test('editing and deleting my post shows live in another browser', async () => {
    const alice = await signUp('alice');
    const bob = await signUp('bob');
    await teamWith(alice, bob);
    const alicePage = await logInThroughThePage(browser, alice.username);
    const bobPage = await logInThroughThePage(browser, bob.username);
    const run = tag();
    await post(alicePage, `first draft ${run}`);
    await postShown(alicePage, `first draft ${run}`);
    await postShown(bobPage, `first draft ${run}`);
    const id = await postIdOf(alicePage, `first draft ${run}`);
    assert.equal(await bobPage.$(`#CENTER_button_${id}`), null, 'no edit menu on someone else\'s post');

    await clickPostAction(alicePage, id, `#CENTER_button_${id}`);
    await alicePage.click(`#edit_post_${id}`);
    await alicePage.waitForSelector('#edit_textbox');
    // Select all of it the way a person does (focus, Ctrl+A), and check it was replaced before
    // saving: a selection lost to a re-render would append instead.
    await alicePage.focus('#edit_textbox');
    await alicePage.keyboard.down('Control');
    await alicePage.keyboard.press('KeyA');
    await alicePage.keyboard.up('Control');
    await alicePage.type('#edit_textbox', `final wording ${run}`);
    assert.equal(await alicePage.$eval('#edit_textbox', (el) => el.value), `final wording ${run}`);
    await alicePage.keyboard.press('Enter');
    await waitInPage(bobPage, 'the edit shown live', (args) => {
        const el = document.getElementById(`postMessageText_${args.id}`);
        return el?.textContent.includes(`final wording ${args.run}`) && document.getElementById(`postEdited_${args.id}`);
    }, { id, run });
    await waitInPage(alicePage, 'the edit marked here', (postId) => document.getElementById(`postEdited_${postId}`), id);
    assert.equal(await copiesShown(bobPage, `first draft ${run}`), 0);

    // Escape leaves the text as it was.
    await clickPostAction(alicePage, id, `#CENTER_button_${id}`);
    await alicePage.click(`#edit_post_${id}`);
    await alicePage.waitForSelector('#edit_textbox');
    await alicePage.type('#edit_textbox', ' not saved');
    await alicePage.keyboard.press('Escape');
    await waitInPage(alicePage, 'the editor closed', () => !document.querySelector('#edit_textbox'));
    assert.equal(await copiesShown(alicePage, 'not saved'), 0);

    await clickPostAction(alicePage, id, `#CENTER_button_${id}`);
    await alicePage.click(`#delete_post_${id}`);
    await alicePage.waitForSelector('#deletePostModalButton');
    await alicePage.click('#deletePostModalButton');
    await waitInPage(bobPage, 'the deletion shown live', (postId) => !document.getElementById(`post_${postId}`), id);
    await waitInPage(alicePage, 'the deletion shown here', (postId) => !document.getElementById(`post_${postId}`), id);
    await Promise.all([alicePage.close(), bobPage.close()]);
});

test('a reaction picked in the emoji picker shows live in another browser with its count, and goes away again', async () => {
    const alice = await signUp('alice');
    const bob = await signUp('bob');
    const team = await teamWith(alice, bob);
    const townSquare = await channelByName(team, 'town-square', alice);
    const run = tag();
    const target = await apiPost(alice, townSquare, `react to this ${run}`);
    const alicePage = await logInThroughThePage(browser, alice.username);
    const bobPage = await logInThroughThePage(browser, bob.username);
    await postShown(bobPage, `react to this ${run}`);

    await clickPostAction(bobPage, target.id, `#CENTER_reaction_${target.id}`);
    await bobPage.waitForSelector('#emojiPicker');
    assert.ok(await bobPage.$('#emojiPicker .emoji-recent [data-emoji]'), 'a recently used row');
    await bobPage.type('#emojiPickerSearch', 'tad');
    await bobPage.waitForSelector('#emojiPicker [data-emoji="tada"]');
    if (SCREENSHOTS) {
        await bobPage.screenshot({ path: `${SCREENSHOTS}/emoji-picker-search.png` });
    }
    await bobPage.click('#emojiPicker [data-emoji="tada"]');
    await waitInPage(bobPage, 'the picker closed', () => !document.querySelector('#emojiPicker'));
    const reaction = `#postReaction_${target.id}_tada`;
    await waitInPage(alicePage, 'bob\'s reaction shown live', (sel) => document.querySelector(sel)?.dataset.count === '1', reaction);
    assert.equal(await alicePage.$eval(reaction, (el) => el.classList.contains('mine')), false);
    assert.equal(await alicePage.$eval(`${reaction} .reaction-emoji`, (el) => el.textContent), '🎉');

    // Alice adds hers by clicking it: 2 for both, hers highlighted on her page.
    await alicePage.click(reaction);
    await waitInPage(bobPage, 'two reactions', (sel) => document.querySelector(sel)?.dataset.count === '2', reaction);
    await waitInPage(alicePage, 'mine highlighted', (sel) => document.querySelector(sel)?.classList.contains('mine'), reaction);
    // Bob takes his back, then Alice hers: it is gone in both.
    await bobPage.click(reaction);
    await waitInPage(alicePage, 'one reaction left', (sel) => document.querySelector(sel)?.dataset.count === '1', reaction);
    await alicePage.click(reaction);
    await waitInPage(alicePage, 'the reaction gone from the page that took it back', (sel) => !document.querySelector(sel), reaction);
    await waitInPage(bobPage, 'the reaction gone', (sel) => !document.querySelector(sel), reaction);

    // The picker shows the whole table too; a screenshot of it as it opens.
    await clickPostAction(alicePage, target.id, `#CENTER_reaction_${target.id}`);
    await alicePage.waitForSelector('#emojiPicker');
    assert.ok((await alicePage.$$('#emojiPicker [data-emoji]')).length > 300, 'a few hundred emoji');
    await alicePage.hover('#emojiPicker [data-emoji="smile"]');
    if (SCREENSHOTS) {
        await alicePage.screenshot({ path: `${SCREENSHOTS}/emoji-picker.png` });
    }
    await alicePage.keyboard.press('Escape');
    await waitInPage(alicePage, 'Escape closes the picker', () => !document.querySelector('#emojiPicker'));

    // A custom emoji reaction shows its image.
    const png = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGP4z8DwHwAFAAH/iZk9HQAAAABJRU5ErkJggg==', 'base64');
    const form = new FormData();
    form.append('image', new Blob([png], { type: 'image/png' }), 'parrot.png');
    const emojiName = `parrot${run}`;
    form.append('emoji', JSON.stringify({ name: emojiName, creator_id: alice.user.id }));
    const created = await fetch(`${CHORUS_URL}/api/v4/emoji`, {
        method: 'POST', headers: { Authorization: `Bearer ${alice.token}` }, body: form,
    });
    assert.ok(created.ok, `custom emoji created: ${created.status} ${await created.clone().text()}`);
    const customId = (await created.json()).id;
    await api('POST', '/reactions', { user_id: alice.user.id, post_id: target.id, emoji_name: emojiName }, alice.token);
    await waitInPage(bobPage, 'the custom emoji reaction', (args) => document.querySelector(`#postReaction_${args.post}_${args.name} img`)?.getAttribute('src')?.includes(args.id),
        { post: target.id, name: emojiName, id: customId });

    await Promise.all([alicePage.close(), bobPage.close()]);
});

test('someone typing shows under the message box in another browser and goes away', async () => {
    const alice = await signUp('alice');
    const bob = await signUp('bob');
    const team = await teamWith(alice, bob);
    const townSquare = await channelByName(team, 'town-square', alice);
    const alicePage = await logInThroughThePage(browser, alice.username);
    const bobPage = await logInThroughThePage(browser, bob.username);
    // Bob's browser says "typing" the way Mattermost's clients do: the user_typing action on
    // its websocket (the session cookie authenticates it).
    await bobPage.evaluate((channelId) => new Promise((resolve, reject) => {
        const ws = new WebSocket(`${location.origin.replace(/^http/, 'ws')}/api/v4/websocket`);
        ws.onopen = () => {
            ws.send(JSON.stringify({ action: 'user_typing', seq: 1, data: { channel_id: channelId, parent_id: '' } }));
            setTimeout(() => { ws.close(); resolve(); }, 300);
        };
        ws.onerror = () => reject(new Error('websocket failed'));
    }), townSquare.id);
    await waitInPage(alicePage, 'the typing indicator', (name) => document.querySelector('#typingIndicator')?.textContent === `${name} is typing…`, bob.username);
    await waitInPage(alicePage, 'the typing indicator expired', () => document.querySelector('#typingIndicator')?.textContent === '', undefined, 9000);
    await Promise.all([alicePage.close(), bobPage.close()]);
});

test('a status dot shows a logged-in person online and turns away when they set away', async () => {
    const alice = await signUp('alice');
    const bob = await signUp('bob');
    const team = await teamWith(alice, bob);
    const townSquare = await channelByName(team, 'town-square', alice);
    const bobPage = await logInThroughThePage(browser, bob.username);
    const run = tag();
    await apiPost(bob, townSquare, `status check ${run}`);
    const alicePage = await logInThroughThePage(browser, alice.username);
    await postShown(alicePage, `status check ${run}`);
    const dot = `[data-testid="status-dot"][data-user-id="${bob.user.id}"]`;
    await waitInPage(alicePage, 'bob online', (sel) => document.querySelector(sel)?.dataset.status === 'online', dot);
    await api('PUT', `/users/${bob.user.id}/status`, { user_id: bob.user.id, status: 'away' }, bob.token);
    await waitInPage(alicePage, 'bob away', (sel) => document.querySelector(sel)?.dataset.status === 'away', dot, 25000);
    await Promise.all([alicePage.close(), bobPage.close()]);
});

test('a reply shows in the channel as a comment on its root, the root counts its replies, and both open the thread', async () => {
    const alice = await signUp('alice');
    const bob = await signUp('bob');
    const team = await teamWith(alice, bob);
    const townSquare = await channelByName(team, 'town-square', alice);
    const run = tag();
    const root = await apiPost(alice, townSquare, `Who can take the on-call shift ${run}?`);
    const page = await logInThroughThePage(browser, alice.username);
    await postShown(page, `on-call shift ${run}`);
    const reply = await apiPost(bob, townSquare, `I can take it ${run}`, { root_id: root.id });
    await postShown(page, `I can take it ${run}`);
    await waitInPage(page, 'the reply names its root', (id) => document.querySelector(`#post_${id} .commented-on`)?.textContent.includes('on-call shift'), reply.id);
    assert.match(await page.$eval(`#post_${reply.id} .commented-on`, (el) => el.textContent), new RegExp(`Commented on ${alice.username}'s message`));
    await waitInPage(page, 'the root counts the reply', (id) => document.getElementById(`CENTER_replyCount_${id}`)?.textContent.includes('1 reply'), root.id);
    await page.click(`#CENTER_replyCount_${root.id}`);
    await page.waitForSelector('#rhsContainer');
    await page.close();
});
