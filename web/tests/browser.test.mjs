// The web client in a real browser, as a person meets it: log in on /login with Mattermost's
// element ids, land in town-square, post with Enter, and see another person's post arrive live
// in a second browser.
//
//   CHORUS_URL=http://127.0.0.1:8065 node --test tests/browser.test.mjs

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import {
    copiesShown, launchBrowser, logInThroughThePage, post, postShown, SCREENSHOTS, signUp, teamWith,
} from './helpers.mjs';

let browser;
before(async () => { browser = await launchBrowser(); });
after(async () => { await browser?.close(); });

test('two people log in, chat in town-square, and each sees the other live', async () => {
    const alice = await signUp('alice');
    const bob = await signUp('bob');
    const team = await teamWith(alice, bob);

    const alicePage = await logInThroughThePage(browser, alice.username, undefined, { screenshot: 'login.png' });
    assert.match(new URL(alicePage.url()).pathname, new RegExp(`^/${team.name}/channels/town-square$`));
    assert.equal(await alicePage.$eval('#channelHeaderTitle', (el) => el.textContent), 'Town Square');
    assert.ok(await alicePage.$('#sidebarItem_town-square'));
    const bobPage = await logInThroughThePage(browser, bob.username);

    const message = `hello from the browser ${randomBytes(3).toString('hex')}`;
    await post(alicePage, message);
    await postShown(alicePage, message);
    await postShown(bobPage, message);
    assert.equal(await copiesShown(bobPage, message), 1, 'the post is shown once');
    assert.equal(await alicePage.$eval('#post_textbox', (el) => el.value), '', 'the box is cleared');
    if (SCREENSHOTS) {
        await bobPage.screenshot({ path: `${SCREENSHOTS}/channel.png` });
    }
});

test('typing @ and part of a name offers the people of the channel, and Enter completes the mention', async () => {
    const alice = await signUp('alice');
    const bob = await signUp('bob');
    await teamWith(alice, bob);
    const page = await logInThroughThePage(browser, alice.username);
    await page.click('#post_textbox');
    await page.type('#post_textbox', `hi @${bob.username.slice(0, 6)}`);
    await page.waitForSelector(`#suggestionList [data-username="${bob.username}"]`, { timeout: 10000 });
    // Typing notifications go out meanwhile; the list must not eat ordinary keys.
    await page.keyboard.press('Enter');
    assert.equal(await page.$eval('#post_textbox', (el) => el.value), `hi @${bob.username} `, 'the mention is completed');
    assert.equal(await page.$('#suggestionList'), null, 'the list closes');
    await page.type('#post_textbox', 'look');
    await page.keyboard.press('Enter');
    await postShown(page, `@${bob.username} look`);
    if (SCREENSHOTS) {
        await page.screenshot({ path: `${SCREENSHOTS}/mention.png` });
    }
});
