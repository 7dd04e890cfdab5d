// Failover as a person in a browser meets it: the node that serves the page's websocket is
// SIGKILLed while someone else keeps posting. The page shows a "reconnecting" notice, gets back
// through NGINX to another node and shows every post it missed, once, without a reload; what was
// typed in the message box is still there; and a post whose answer was lost in the crash is sent
// again with its pending_post_id and shown once.
//
// Needs CHORUS_NODES with the pids of process nodes (crates/server/tests/it/web.rs sets it), and to
// be the only client with a websocket on its cluster (it finds the serving node by the nodes'
// websocket gauges).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
    api, CHORUS_URL, copiesShown, launchBrowser, logInThroughThePage, NODES, postShown, SCREENSHOTS, signUp,
    teamWith, unique, waitInPage,
} from './helpers.mjs';

let browser;
before(async () => { browser = await launchBrowser(); });
after(async () => { await browser?.close(); });

async function websocketsOf(node) {
    const text = await (await fetch(node.metrics)).text();
    const line = text.split('\n').find((l) => l.startsWith('mattermost_http_websockets_total'));
    return line ? Number(line.split(' ').pop()) : 0;
}

/// The node holding the page's websocket: the only node with one.
async function servingNode() {
    for (let attempt = 0; attempt < 100; attempt++) {
        const counts = await Promise.all(NODES.map(websocketsOf));
        const serving = NODES.filter((_, i) => counts[i] > 0);
        if (serving.length === 1) {
            return serving[0];
        }
        await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error('could not tell which node serves the page');
}

/// Posts through NGINX as a script would, retrying what a dead node could not answer (with the
/// same pending_post_id, so a retry never makes a second post).
async function postRetrying(author, channelId, message) {
    const body = { channel_id: channelId, message, pending_post_id: `${author.user.id}:${unique('')}` };
    for (let attempt = 0; ; attempt++) {
        try {
            return (await api('POST', '/posts', body, author.token)).data;
        } catch (error) {
            if (attempt >= 40 || !/: (502|503|504) /.test(error.message) && !/fetch failed/.test(error.message)) {
                throw error;
            }
            await new Promise((resolve) => setTimeout(resolve, 250));
        }
    }
}

test('the node serving a browser dies: the page reconnects and shows every post once, without a reload', async () => {
    assert.ok(NODES.length >= 2 && NODES.every((node) => node.pid), 'needs process nodes (CHORUS_NODES with pids)');
    const alice = await signUp('alice');
    const bob = await signUp('bob');
    const team = await teamWith(alice, bob);
    const { data: townSquare } = await api('GET', `/teams/${team.id}/channels/name/town-square`, undefined, bob.token);

    const t0 = Date.now();
    const step = (what) => console.log(`${Date.now() - t0} ms: ${what}`);
    const page = await logInThroughThePage(browser, alice.username);
    step('logged in');
    await page.evaluate(() => { window.__loadedOnce = true; });
    // The page's websocket is open before the first post (a post made before it opens shows
    // only after a reload, as in Mattermost's web app).
    await servingNode();
    const before = await postRetrying(bob, townSquare.id, `before the crash ${unique('')}`);
    await postShown(page, before.message);

    // The first answer to alice's next post is lost, as if her request reached a node that made
    // the post and died before answering: the request goes to the server, the page gets a 502.
    const lost = { post: null };
    await page.setRequestInterception(true);
    page.on('request', async (request) => {
        if (request.isInterceptResolutionHandled()) {
            return;
        }
        if (lost.post === null && request.method() === 'POST' && request.url().endsWith('/api/v4/posts')) {
            lost.post = 'pending';
            const cookies = (await page.cookies()).map((c) => `${c.name}=${c.value}`).join('; ');
            const response = await fetch(request.url(), {
                method: 'POST', headers: { ...request.headers(), cookie: cookies }, body: request.postData(),
            });
            lost.post = await response.json();
            await request.respond({ status: 502, contentType: 'text/html', body: '<html>502 Bad Gateway</html>' });
            return;
        }
        await request.continue();
    });

    step('before post shown');
    const serving = await servingNode();
    step('serving node found');
    const killedAt = Date.now();
    process.kill(serving.pid, 'SIGKILL');

    // While the page is cut off, alice sends a post and starts typing the next; bob keeps posting.
    const mine = `sent during the outage ${unique('')}`;
    await page.type('#post_textbox', mine);
    await page.keyboard.press('Enter');
    const draft = `a draft that must survive ${unique('')}`;
    await page.type('#post_textbox', draft);
    const missed = [];
    for (let i = 0; i < 10; i++) {
        missed.push(await postRetrying(bob, townSquare.id, `missed while reconnecting ${i} ${unique('')}`));
    }

    step('sent');
    for (const post of missed) {
        await postShown(page, post.message, 30000);
    }
    const liveAgainMs = Date.now() - killedAt;
    step('missed shown');
    await postShown(page, mine, 30000);
    step('mine shown');
    await waitInPage(page, 'the reconnecting notice went away', () => !document.querySelector('#reconnect_banner'), undefined, 30000);

    step('banner gone');
    // Live again: a new post arrives by the websocket alone.
    const after = await postRetrying(bob, townSquare.id, `after the reconnect ${unique('')}`);
    await postShown(page, after.message, 15000);

    assert.equal(await page.evaluate(() => window.__loadedOnce), true, 'the page was not reloaded');
    assert.equal(await page.$eval('#post_textbox', (el) => el.value), draft, 'what was typed is still in the box');
    for (const post of [before, ...missed, after]) {
        assert.equal(await copiesShown(page, post.message), 1, `"${post.message}" is shown once`);
    }
    assert.equal(await copiesShown(page, mine), 1, 'the retried post is shown once');
    assert.ok(lost.post?.id, 'the lost answer was for a post the server made');
    const { data: recent } = await api('GET', `/channels/${townSquare.id}/posts?per_page=100`, undefined, bob.token);
    const made = Object.values(recent.posts).filter((p) => p.message === mine);
    assert.equal(made.length, 1, 'the server made the retried post once');
    assert.equal(made[0].id, lost.post.id);
    if (SCREENSHOTS) {
        await page.screenshot({ path: `${SCREENSHOTS}/failover.png` });
    }
    console.log(`figure: SIGKILL of the serving node -> page live with the ${missed.length} missed posts: ${liveAgainMs} ms`);
    console.log(`figure: problems the page logged during the failover: ${page.problems.length}`);
    void CHORUS_URL;
});
