// The web client in a real browser (Debian's chromium, driven by puppeteer-core), as a person
// meets it: log in on /login with Mattermost's element ids, land in town-square, post with
// Enter, and see another person's post arrive live in a second browser.
//
//   CHORUS_URL=http://127.0.0.1:8065 node --test tests/browser.test.mjs
//
// Screenshots go to $CHORUS_SCREENSHOTS (when set).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import puppeteer from 'puppeteer-core';

const CHORUS_URL = (process.env.CHORUS_URL || '').replace(/\/+$/, '');
if (!CHORUS_URL) {
    throw new Error('CHORUS_URL is not set: point it at a running Chorus (NGINX in front of the nodes)');
}
const SCREENSHOTS = process.env.CHORUS_SCREENSHOTS || '';
const CHROMIUM = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((path) => existsSync(path));
const PASSWORD = `Pw-${randomBytes(6).toString('hex')}-X1!`;

let browser;

before(async () => {
    assert.ok(CHROMIUM, 'chromium is not installed: scripts/test.sh installs it (apt-get install chromium)');
    browser = await puppeteer.launch({
        executablePath: CHROMIUM,
        headless: true,
        args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu'],
    });
});

after(async () => {
    await browser?.close();
});

async function api(method, path, body, token) {
    const response = await fetch(`${CHORUS_URL}/api/v4${path}`, {
        method,
        headers: { 'Content-Type': 'application/json', ...(token ? { Authorization: `Bearer ${token}` } : {}) },
        body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    if (!response.ok) {
        throw new Error(`${method} ${path}: ${response.status} ${text}`);
    }
    return { data: text ? JSON.parse(text) : null, token: response.headers.get('token') };
}

async function signUp(prefix) {
    const username = `${prefix}${randomBytes(4).toString('hex')}`;
    const { data: user } = await api('POST', '/users', { username, email: `${username}@example.com`, password: PASSWORD });
    const { token } = await api('POST', '/users/login', { login_id: username, password: PASSWORD });
    return { user, username, token };
}

async function logInThroughThePage(username) {
    const context = await browser.createBrowserContext();
    const page = await context.newPage();
    page.problems = [];
    page.on('console', (message) => {
        if (message.type() === 'error' || message.type() === 'warn') {
            page.problems.push(`console.${message.type()}: ${message.text()}`);
        }
    });
    page.on('pageerror', (error) => page.problems.push(`page error: ${error.message}`));
    page.on('requestfailed', (request) => page.problems.push(`request failed: ${request.method()} ${request.url()}`));
    page.requests = [];
    page.on('response', (response) => {
        const line = `HTTP ${response.status()}: ${response.request().method()} ${response.url()}`;
        page.requests.push(line);
        if (response.status() >= 400) {
            page.problems.push(line);
        }
    });
    await page.setViewport({ width: 1200, height: 760 });
    await page.goto(`${CHORUS_URL}/login`, { waitUntil: 'networkidle0' });
    await page.type('#input_loginId', username);
    await page.type('#input_password-input', PASSWORD);
    if (SCREENSHOTS) {
        await page.screenshot({ path: `${SCREENSHOTS}/login.png` });
    }
    await page.click('#saveSetting');
    await page.waitForSelector('#post_textbox', { timeout: 15000 });
    return page;
}

test('two people log in, chat in town-square, and each sees the other live', async () => {
    const alice = await signUp('alice');
    const bob = await signUp('bob');
    const { data: team } = await api('POST', '/teams', { name: `t${randomBytes(4).toString('hex')}`, display_name: 'Browser Team', type: 'O' }, alice.token);
    await api('POST', `/teams/${team.id}/members`, { team_id: team.id, user_id: bob.user.id }, alice.token);

    const alicePage = await logInThroughThePage(alice.username);
    assert.match(new URL(alicePage.url()).pathname, new RegExp(`^/${team.name}/channels/town-square$`));
    assert.equal(await alicePage.$eval('#channelHeaderTitle', (el) => el.textContent), 'Town Square');
    assert.ok(await alicePage.$('#sidebarItem_town-square'));
    const bobPage = await logInThroughThePage(bob.username);

    const message = `hello from the browser ${randomBytes(3).toString('hex')}`;
    await alicePage.type('#post_textbox', message);
    assert.equal(await alicePage.$eval('#post_textbox', (el) => el.value), message, 'typed into the message box');
    await alicePage.keyboard.press('Enter');
    const shown = async (page) => {
        try {
            await page.waitForFunction(
                (text) => [...document.querySelectorAll('[id^="postMessageText_"]')].some((el) => el.textContent.includes(text)),
                { timeout: 10000 },
                message,
            );
        } catch (err) {
            if (SCREENSHOTS) {
                await page.screenshot({ path: `${SCREENSHOTS}/failure.png` });
            }
            throw new Error(`the post never showed: ${err.message}; the page saw: ${page.problems.join('; ') || 'no errors'}; `
                + `its requests: ${page.requests.slice(-12).join('; ')}`);
        }
    };
    await shown(alicePage);
    await shown(bobPage);
    const copies = await bobPage.$$eval('[id^="postMessageText_"]', (els, text) => els.filter((el) => el.textContent.includes(text)).length, message);
    assert.equal(copies, 1, 'the post is shown once');
    assert.equal(await alicePage.$eval('#post_textbox', (el) => el.value), '', 'the box is cleared');
    if (SCREENSHOTS) {
        await bobPage.screenshot({ path: `${SCREENSHOTS}/channel.png` });
    }
});
