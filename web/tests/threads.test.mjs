// Threads, the message box and files, in real browsers: a reply in the thread pane shows live
// in another person's open thread; files attached by the paperclip (#fileUploadInput), a drop
// or a paste upload with their own progress, show as thumbnails (that open the preview) or as
// cards (that download the same bytes) for everyone; a file over MaxFileSize shows the
// server's error and loses nothing else; drafts stay with their channel.
//
//   CHORUS_URL=http://127.0.0.1:8065 node --test tests/threads.test.mjs

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import {
    api, attachInPage, CHORUS_URL, fetchInPage, launchBrowser, logInThroughThePage, newPage, PASSWORD, pngBytes, post, postShown,
    SCREENSHOTS, signUp, teamWith, waitInPage,
} from './helpers.mjs';

let browser;
let folder;
before(async () => {
    browser = await launchBrowser();
    folder = mkdtempSync(join(tmpdir(), 'chorus-threads-'));
});
after(async () => {
    await browser?.close();
    rmSync(folder, { recursive: true, force: true });
});

const tag = () => randomBytes(3).toString('hex');

async function townSquare(person, team) {
    const { data } = await api('GET', `/teams/${team.id}/channels/name/town-square`, undefined, person.token);
    return data;
}

async function apiPost(person, channelId, message, rootId = '') {
    const { data } = await api('POST', '/posts', { channel_id: channelId, message, root_id: rootId }, person.token);
    return data;
}

/// Waits until every attachment of the box in `scope` is uploaded (and there are `count`).
function uploadsDone(page, scope, count) {
    return waitInPage(page, `${count} uploads in ${scope} never finished`, ([scope, count]) => {
        const cards = [...document.querySelectorAll(`${scope} [data-testid="upload"]`)];
        return cards.length === count && cards.every((card) => card.dataset.state === 'done');
    }, [scope, count], 20000);
}

/// The id of the newest post in the channel view whose text contains `text`.
async function postIdOf(page, text) {
    await postShown(page, text);
    return page.$$eval('[id^="postMessageText_"]', (els, t) => els.filter((el) => el.textContent.includes(t)).pop().id.slice('postMessageText_'.length), text);
}

function imagesLoaded(page, selector, what) {
    return waitInPage(page, what, (selector) => {
        const images = [...document.querySelectorAll(selector)];
        return images.length > 0 && images.every((img) => img.complete && img.naturalWidth > 0);
    }, selector, 15000);
}

test('a reply in the thread pane shows live in another person\'s open thread, and the reply count follows', async () => {
    const alice = await signUp('alice');
    const bob = await signUp('bob');
    const team = await teamWith(alice, bob);
    const channel = await townSquare(alice, team);
    const rootText = `Release plan for Friday ${tag()}`;
    const root = await apiPost(alice, channel.id, `${rootText}\n\n1. freeze\n2. **tag** the build\n3. deploy`);

    const alicePage = await logInThroughThePage(browser, alice.username);
    const bobPage = await logInThroughThePage(browser, bob.username);
    for (const page of [alicePage, bobPage]) {
        await postShown(page, rootText);
        await page.hover(`#post_${root.id}`);
        await page.click(`#CENTER_commentIcon_${root.id}`);
        await page.waitForSelector('#rhsContainer #reply_textbox', { timeout: 10000 });
        await waitInPage(page, 'the thread pane shows the root', (id) => document.querySelector(`#rhsContainer #rhsPostMessageText_${id}`) !== null, root.id);
        assert.equal(await page.$eval('#rhsReplyCount', (el) => el.dataset.count), '0');
        assert.equal(await page.$eval('#rhsChannelName', (el) => el.textContent.includes('Town Square')), true, 'the header names the channel');
    }

    const reply = `I can take the deploy ${tag()}`;
    await post(bobPage, reply, '#reply_textbox');
    const replyShown = (page) => waitInPage(page, `the reply never showed in the thread pane`,
        (t) => [...document.querySelectorAll('#rhsContainer [id^="rhsPostMessageText_"]')].some((el) => el.textContent.includes(t)), reply);
    await replyShown(bobPage);
    await replyShown(alicePage);
    for (const page of [alicePage, bobPage]) {
        await waitInPage(page, 'the reply count never reached 1', () => document.querySelector('#rhsReplyCount')?.dataset.count === '1');
    }
    assert.equal(await bobPage.$eval('#reply_textbox', (el) => el.value), '', 'the reply box is cleared');
    assert.equal(await alicePage.$$eval('#rhsContainer [id^="rhsPostMessageText_"]',
        (els, t) => els.filter((el) => el.textContent.includes(t)).length, reply), 1, 'the reply is shown once');

    // The server has it as a reply to the root (the box sent root_id).
    const { data: thread } = await api('GET', `/posts/${root.id}/thread`, undefined, alice.token);
    const saved = Object.values(thread.posts).find((p) => p.message === reply);
    assert.equal(saved?.root_id, root.id);

    // A reply made elsewhere (the API) arrives too, and alice answers from her pane.
    await apiPost(bob, channel.id, 'Staging is green, `v2.4.0-rc1` is ready.', root.id);
    const answer = `Thanks! Shipping at 15:00 ${tag()}`;
    await post(alicePage, answer, '#reply_textbox');
    for (const page of [alicePage, bobPage]) {
        await waitInPage(page, 'the reply count never reached 3', () => document.querySelector('#rhsReplyCount')?.dataset.count === '3');
    }
    if (SCREENSHOTS) {
        await bobPage.screenshot({ path: `${SCREENSHOTS}/thread.png` });
    }

    await alicePage.click('#rhsCloseButton');
    await waitInPage(alicePage, 'the close button never closed the pane', () => document.querySelector('#rhsContainer') === null);
    await Promise.all([alicePage.close(), bobPage.close()]);
});

test('a PNG and a file attached with the paperclip show as a thumbnail and a card in both browsers; the thumbnail opens the preview and the card downloads the same bytes', async () => {
    const alice = await signUp('alice');
    const bob = await signUp('bob');
    await teamWith(alice, bob);
    const png = await pngBytes(320, 200);
    const pngPath = join(folder, 'sunset.png');
    writeFileSync(pngPath, png);
    const whiteboardPath = join(folder, 'whiteboard.png');
    writeFileSync(whiteboardPath, await pngBytes(240, 300, 40));
    const notes = Buffer.concat([Buffer.from('meeting notes\n'), randomBytes(3000)]);
    const notesPath = join(folder, 'notes.pdf');
    writeFileSync(notesPath, notes);

    const alicePage = await logInThroughThePage(browser, alice.username);
    const bobPage = await logInThroughThePage(browser, bob.username);

    const input = await alicePage.$('#centerChannelFooter #fileUploadInput');
    assert.ok(input, 'the channel box has #fileUploadInput');
    await input.uploadFile(pngPath, whiteboardPath, notesPath);
    await uploadsDone(alicePage, '#centerChannelFooter', 3);
    const text = `Photos from the offsite ${tag()}`;
    await post(alicePage, text);
    const postId = await postIdOf(alicePage, text);
    await waitInPage(alicePage, 'the attachments stayed in the box after sending',
        () => document.querySelectorAll('#centerChannelFooter [data-testid="upload"]').length === 0);

    for (const page of [alicePage, bobPage]) {
        await postShown(page, text);
        await imagesLoaded(page, `#post_${postId} [data-testid="fileAttachmentThumbnail"] img`, 'the thumbnail never loaded');
        const sources = await page.$$eval(`#post_${postId} [data-testid="fileAttachmentThumbnail"] img`, (imgs) => imgs.map((img) => img.getAttribute('src')));
        assert.equal(sources.length, 2, 'both images are thumbnails');
        for (const src of sources) {
            assert.match(src, /^\/api\/v4\/files\/[a-z0-9]+\/thumbnail$/);
        }
        const card = await page.$eval(`#post_${postId} [data-testid="fileAttachment"]`, (el) => ({
            text: el.textContent, href: el.querySelector('a.file-name').getAttribute('href'),
        }));
        assert.match(card.text, /notes\.pdf/);
        assert.match(card.text, /2\.9 KB/, 'the card shows the size');
        assert.match(card.href, /^\/api\/v4\/files\/[a-z0-9]+\?download=1$/);
        const downloaded = await fetchInPage(page, card.href);
        assert.equal(downloaded.base64, notes.toString('base64'), 'the download is the file that was attached');
        assert.match(downloaded.disposition, /^attachment/);
    }
    if (SCREENSHOTS) {
        await bobPage.screenshot({ path: `${SCREENSHOTS}/files.png` });
    }

    // The thumbnail opens the preview: the image, its name, a download of the original; Esc closes.
    await bobPage.click(`#post_${postId} [data-testid="fileAttachmentThumbnail"]`);
    await bobPage.waitForSelector('#file-preview', { timeout: 5000 });
    await imagesLoaded(bobPage, '#file-preview img.file-preview-image', 'the preview image never loaded');
    assert.match(await bobPage.$eval('#file-preview img.file-preview-image', (img) => img.getAttribute('src')), /\/preview$/);
    assert.match(await bobPage.$eval('#file-preview', (el) => el.textContent), /sunset\.png.*1 of 2/);
    const original = await fetchInPage(bobPage, await bobPage.$eval('#file-preview a.file-preview-download', (a) => a.getAttribute('href')));
    assert.equal(original.base64, png.toString('base64'), 'the preview\'s download is the original PNG');
    if (SCREENSHOTS) {
        await bobPage.screenshot({ path: `${SCREENSHOTS}/file-preview.png` });
    }
    await bobPage.keyboard.press('ArrowRight');
    await waitInPage(bobPage, 'the right arrow never showed the next image', () => /whiteboard\.png.*2 of 2/.test(document.querySelector('#file-preview')?.textContent ?? ''));
    await imagesLoaded(bobPage, '#file-preview img.file-preview-image', 'the next preview image never loaded');
    await bobPage.keyboard.press('Escape');
    await waitInPage(bobPage, 'Esc never closed the preview', () => document.querySelector('#file-preview') === null);
    await Promise.all([alicePage.close(), bobPage.close()]);
});

test('files pasted into the box or dropped on the channel or the thread upload too, and a post may be files alone', async () => {
    const alice = await signUp('alice');
    const bob = await signUp('bob');
    const team = await teamWith(alice, bob);
    const channel = await townSquare(alice, team);
    const png = (await pngBytes(64, 48)).toString('base64');

    const alicePage = await logInThroughThePage(browser, alice.username);
    const bobPage = await logInThroughThePage(browser, bob.username);

    // A screenshot pasted from the clipboard, and a log file dropped onto the channel.
    await attachInPage(alicePage, 'paste', '#post_textbox', [{ name: 'image.png', type: 'image/png', base64: png }]);
    await alicePage.waitForSelector('#channel_view.file-drop-zone');
    await attachInPage(alicePage, 'drop', '#channel_view .post-list', [{ name: 'server.log', type: 'text/plain', base64: Buffer.from('line 1\nline 2\n').toString('base64') }]);
    await uploadsDone(alicePage, '#centerChannelFooter', 2);
    const text = `Pasted and dropped ${tag()}`;
    await post(alicePage, text);
    const postId = await postIdOf(bobPage, text);
    await imagesLoaded(bobPage, `#post_${postId} [data-testid="fileAttachmentThumbnail"] img`, 'the pasted image never showed');
    await waitInPage(bobPage, 'the dropped file never showed',
        (id) => document.querySelector(`#post_${id} [data-testid="fileAttachment"]`)?.textContent.includes('server.log'), postId);

    // A file dropped on the thread pane goes into the thread, with no text at all.
    const root = await apiPost(bob, channel.id, `Send me the diagram ${tag()}`);
    await postShown(alicePage, 'Send me the diagram');
    await alicePage.hover(`#post_${root.id}`);
    await alicePage.click(`#CENTER_commentIcon_${root.id}`);
    await alicePage.waitForSelector('#rhsContainer.file-drop-zone #reply_textbox');
    await attachInPage(alicePage, 'drop', '#rhsContainer', [{ name: 'diagram.png', type: 'image/png', base64: png }]);
    await uploadsDone(alicePage, '#rhsContainer', 1);
    assert.equal(await alicePage.$$eval('#centerChannelFooter [data-testid="upload"]', (els) => els.length), 0,
        'the drop on the thread pane went to the reply box only');
    await alicePage.click('#rhsContainer [data-testid="SendMessageButton"]');
    await waitInPage(alicePage, 'the reply of files alone never showed in the pane', () =>
        [...document.querySelectorAll('#rhsContainer [id^="rhsPost_"]')].some((el) => el.querySelector('[data-testid="fileAttachmentThumbnail"] img')));
    await waitInPage(alicePage, 'the reply count never reached 1', () => document.querySelector('#rhsReplyCount')?.dataset.count === '1');
    const { data: thread } = await api('GET', `/posts/${root.id}/thread`, undefined, bob.token);
    const reply = Object.values(thread.posts).find((p) => p.id !== root.id);
    assert.equal(reply.message, '');
    assert.equal(reply.file_ids.length, 1);
    await Promise.all([alicePage.close(), bobPage.close()]);
});

test('an upload shows its progress and can be cancelled; a file over MaxFileSize shows the server\'s error and loses nothing else', async () => {
    const alice = await signUp('alice');
    await teamWith(alice);
    const { data: config } = await api('GET', '/config/client?format=old', undefined, alice.token);
    const limit = Number(config.MaxFileSize);
    assert.ok(limit > 0, `MaxFileSize in the client config: ${config.MaxFileSize}`);
    const page = await logInThroughThePage(browser, alice.username);

    // Slow uploads (1 MB/s): the bar moves, and Cancel stops it and takes it out of the box.
    const cdp = await page.createCDPSession();
    await cdp.send('Network.enable');
    await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 20, downloadThroughput: -1, uploadThroughput: 1024 * 1024 });
    await attachInPage(page, 'paste', '#post_textbox', [{ name: 'video.mp4', type: 'video/mp4', size: Math.min(6 * 1024 * 1024, limit - 65536) }]);
    await waitInPage(page, 'the progress bar never moved', () => {
        const bar = document.querySelector('#centerChannelFooter [data-testid="upload"][data-state="uploading"] [role="progressbar"]');
        const value = Number(bar?.getAttribute('aria-valuenow'));
        return value > 0 && value < 100;
    });
    assert.equal(await page.$eval('#centerChannelFooter [data-testid="SendMessageButton"]', (b) => b.disabled), true, 'no sending while a file uploads');
    if (SCREENSHOTS) {
        await page.screenshot({ path: `${SCREENSHOTS}/uploading.png` });
    }
    await page.click('#centerChannelFooter [data-testid="upload"] .upload-remove');
    await waitInPage(page, 'Cancel never removed the upload', () => document.querySelectorAll('#centerChannelFooter [data-testid="upload"]').length === 0);
    await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1 });

    // Typed text, a good file, and one over the limit: the big one fails with the server's
    // message, the rest is kept and can be sent.
    const typed = `Here is the contract, the scan is too big ${tag()}`;
    await page.click('#post_textbox');
    await page.type('#post_textbox', typed);
    await attachInPage(page, 'paste', '#post_textbox', [
        { name: 'contract.txt', type: 'text/plain', base64: Buffer.from('the contract').toString('base64') },
    ]);
    await uploadsDone(page, '#centerChannelFooter', 1);
    // Over the server's limit; NGINX in front refuses bodies over 110 MB with its own page first.
    const proxyLimit = 110 * 1024 * 1024;
    const size = Math.min(limit + 1, proxyLimit + 1024 * 1024);
    await attachInPage(page, 'paste', '#post_textbox', [{ name: 'scan.tiff', type: 'image/tiff', size }]);
    await waitInPage(page, 'the too-large upload never failed', () =>
        document.querySelector('#centerChannelFooter [data-testid="upload"][data-state="failed"]') !== null, undefined, 60000);
    const error = await page.$eval('#centerChannelFooter [data-testid="upload"][data-state="failed"]', (el) => el.textContent);
    if (limit + 1 < proxyLimit) {
        // Refused by the request's declared length, before the file is read.
        assert.match(error, new RegExp(`scan\\.tiff.*maximum allowed file size of ${limit} bytes`), 'the server\'s own message');
    } else {
        assert.match(error, /too large/i);
    }
    if (SCREENSHOTS) {
        await page.screenshot({ path: `${SCREENSHOTS}/upload-too-large.png` });
    }
    assert.equal(await page.$eval('#post_textbox', (el) => el.value), typed, 'what was typed is kept');
    assert.equal(await page.$$eval('#centerChannelFooter [data-testid="upload"][data-state="done"]', (els) => els.length), 1, 'the good file is kept');

    await page.click('#centerChannelFooter [data-testid="upload"][data-state="failed"] .upload-remove');
    await page.focus('#post_textbox');
    await page.keyboard.press('Enter');
    const postId = await postIdOf(page, typed);
    await waitInPage(page, 'the good file never showed with the post',
        (id) => document.querySelector(`#post_${id} [data-testid="fileAttachment"]`)?.textContent.includes('contract.txt'), postId);
    await page.close();
});

test('a draft stays with its channel when switching away and back, and after a reload', async () => {
    const alice = await signUp('alice');
    const team = await teamWith(alice);
    const page = await logInThroughThePage(browser, alice.username);
    const draft = `half a thought ${tag()}`;
    await page.type('#post_textbox', draft);
    await page.click('#sidebarItem_off-topic');
    await waitInPage(page, 'off-topic never opened', () => document.querySelector('#channelHeaderTitle')?.textContent === 'Off-Topic');
    // The box takes the channel's own draft once the channel is shown (an effect after render).
    await waitInPage(page, 'off-topic has its own (empty) draft', () => document.querySelector('#post_textbox')?.value === '');
    await page.type('#post_textbox', 'other');
    await page.click('#sidebarItem_town-square');
    await waitInPage(page, 'the draft never came back', (t) => document.querySelector('#post_textbox')?.value === t, draft);

    await page.reload({ waitUntil: 'networkidle0' });
    await page.waitForSelector('#post_textbox');
    await waitInPage(page, 'the draft did not survive a reload', (t) => document.querySelector('#post_textbox')?.value === t, draft);
    assert.equal(new URL(page.url()).pathname, `/${team.name}/channels/town-square`);
    await page.focus('#post_textbox');
    await page.keyboard.press('Enter');
    await postShown(page, draft);
    await page.goto(`${CHORUS_URL}/${team.name}/channels/town-square`, { waitUntil: 'networkidle0' });
    await page.waitForSelector('#post_textbox');
    assert.equal(await page.$eval('#post_textbox', (el) => el.value), '', 'a sent draft is gone');

    // A thread's reply box has a draft of its own, kept when the pane is closed and opened again.
    const rootId = await postIdOf(page, draft);
    await page.hover(`#post_${rootId}`);
    await page.click(`#CENTER_commentIcon_${rootId}`);
    await page.waitForSelector('#reply_textbox');
    await page.type('#reply_textbox', 'a reply I am still writing');
    assert.equal(await page.$eval('#post_textbox', (el) => el.value), '', 'the channel box is not the thread\'s');
    await page.click('#rhsCloseButton');
    await page.hover(`#post_${rootId}`);
    await page.click(`#CENTER_commentIcon_${rootId}`);
    await waitInPage(page, 'the thread draft never came back', () => document.querySelector('#reply_textbox')?.value === 'a reply I am still writing');
    await page.close();
});

test('replies made while the page was disconnected show in the open thread once it reconnects', async () => {
    const alice = await signUp('alice');
    const bob = await signUp('bob');
    const team = await teamWith(alice, bob);
    const channel = await townSquare(alice, team);
    const root = await apiPost(alice, channel.id, `Incident review ${tag()}`);

    // Alice's page, with a hand on its websocket: the test can drop it and keep it down.
    const page = await newPage(browser);
    await page.evaluateOnNewDocument(() => {
        const Native = window.WebSocket;
        window.__sockets = [];
        window.__socketsBlocked = false;
        window.WebSocket = class extends Native {
            constructor(url, protocols) {
                // Blocked: the same origin (the page's CSP allows only that) but a path the
                // server refuses, so the handshake fails and the client retries.
                super(window.__socketsBlocked ? String(url).replace('/api/v4/websocket', '/api/v4/websocket_blocked') : url, protocols);
                window.__sockets.push(this);
            }
        };
    });
    await page.goto(`${CHORUS_URL}/login`, { waitUntil: 'networkidle0' });
    await page.type('#input_loginId', alice.username);
    await page.type('#input_password-input', PASSWORD);
    await page.click('#saveSetting');
    await page.waitForSelector('#post_textbox', { timeout: 15000 });
    await postShown(page, 'Incident review');
    await page.hover(`#post_${root.id}`);
    await page.click(`#CENTER_commentIcon_${root.id}`);
    await waitInPage(page, 'the thread never opened', () => document.querySelector('#rhsReplyCount')?.dataset.count === '0');
    await waitInPage(page, 'the websocket never opened', () => window.__sockets.some((s) => s.readyState === 1));

    await page.evaluate(() => {
        window.__socketsBlocked = true;
        for (const socket of window.__sockets) {
            socket.close();
        }
    });
    await waitInPage(page, 'the page never said it was reconnecting', () => document.querySelector('#reconnect_banner') !== null);
    const missed = `Root cause was the disk filling up ${tag()}`;
    await apiPost(bob, channel.id, missed, root.id);
    // A draft typed in the reply box while disconnected stays.
    await page.type('#reply_textbox', 'typed while offline');
    await new Promise((resolve) => setTimeout(resolve, 1500));
    assert.equal(await page.$$eval('#rhsContainer [id^="rhsPostMessageText_"]', (els, t) => els.filter((el) => el.textContent.includes(t)).length, missed), 0,
        'the reply cannot have arrived while the socket was down');

    await page.evaluate(() => { window.__socketsBlocked = false; });
    await waitInPage(page, 'the missed reply never showed in the thread after reconnecting',
        (t) => [...document.querySelectorAll('#rhsContainer [id^="rhsPostMessageText_"]')].some((el) => el.textContent.includes(t)), missed, 30000);
    await waitInPage(page, 'the banner never went away', () => document.querySelector('#reconnect_banner') === null);
    assert.equal(await page.$eval('#rhsReplyCount', (el) => el.dataset.count), '1');
    assert.equal(await page.$$eval('#rhsContainer [id^="rhsPostMessageText_"]', (els, t) => els.filter((el) => el.textContent.includes(t)).length, missed), 1, 'once');
    assert.equal(await page.$eval('#reply_textbox', (el) => el.value), 'typed while offline');
    await page.close();
});
