// Shared by the browser tests: a headless chromium (Debian's, driven by puppeteer-core), the
// API for setting up people and teams, logging in through the page as a person does, and
// waiting for what a person would wait to see.
//
// The tests run against CHORUS_URL (NGINX in front of the nodes). CHORUS_NODES, when set, is a
// JSON list of the nodes behind it: [{ "url": …, "pid": … (null for in-process nodes),
// "metrics": … }], for tests that kill one. Screenshots go to $CHORUS_SCREENSHOTS when set.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import puppeteer from 'puppeteer-core';

export const CHORUS_URL = (process.env.CHORUS_URL || '').replace(/\/+$/, '');
if (!CHORUS_URL) {
    throw new Error('CHORUS_URL is not set: point it at a running Chorus (NGINX in front of the nodes)');
}
export const NODES = JSON.parse(process.env.CHORUS_NODES || '[]');
export const SCREENSHOTS = process.env.CHORUS_SCREENSHOTS || '';
export const ADMIN = { username: process.env.CHORUS_ADMIN_USER, password: process.env.CHORUS_ADMIN_PASSWORD };
const CHROMIUM = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((path) => existsSync(path));
export const PASSWORD = `Pw-${randomBytes(6).toString('hex')}-X1!`;

export const unique = (prefix) => `${prefix}${randomBytes(4).toString('hex')}`;

export async function launchBrowser() {
    assert.ok(CHROMIUM, 'chromium is not installed: scripts/test.sh installs it (apt-get install chromium)');
    return puppeteer.launch({
        executablePath: CHROMIUM,
        headless: true,
        args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu'],
    });
}

/// Calls the REST API directly (for setting up what a test needs); throws on an error status.
export async function api(method, path, body, token) {
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

/// A new person with a session token.
export async function signUp(prefix) {
    const username = unique(prefix);
    const { data: user } = await api('POST', '/users', { username, email: `${username}@example.com`, password: PASSWORD });
    const { token } = await api('POST', '/users/login', { login_id: username, password: PASSWORD });
    return { user, username, token };
}

/// The admin's session (the Rust side created the account).
export async function logInAdmin() {
    const { data: user, token } = await api('POST', '/users/login', { login_id: ADMIN.username, password: ADMIN.password });
    return { user, username: ADMIN.username, token };
}

/// A team made by `owner` with `others` as members.
export async function teamWith(owner, ...others) {
    const { data: team } = await api('POST', '/teams', { name: unique('t'), display_name: `Team ${randomBytes(2).toString('hex')}`, type: 'O' }, owner.token);
    for (const other of others) {
        await api('POST', `/teams/${team.id}/members`, { team_id: team.id, user_id: other.user.id }, owner.token);
    }
    return team;
}

/// A page in a fresh browser context (its own cookies), which records what went wrong for
/// failure messages: console errors, failed requests, error statuses.
export async function newPage(browser) {
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
    await page.setViewport({ width: 1280, height: 800 });
    return page;
}

/// Logs in on /login as a person does (Mattermost's element ids) and waits for the channel.
export async function logInThroughThePage(browser, username, password = PASSWORD, { screenshot } = {}) {
    const page = await newPage(browser);
    await page.goto(`${CHORUS_URL}/login`, { waitUntil: 'networkidle0' });
    await page.type('#input_loginId', username);
    await page.type('#input_password-input', password);
    if (SCREENSHOTS && screenshot) {
        await page.screenshot({ path: `${SCREENSHOTS}/${screenshot}` });
    }
    await page.click('#saveSetting');
    await page.waitForSelector('#post_textbox', { timeout: 15000 });
    return page;
}

/// Waits until `predicate` (run in the page with `arg`) is true; on a timeout, fails with what
/// the page saw, and a screenshot when screenshots are on.
export async function waitInPage(page, what, predicate, arg, timeout = 10000) {
    try {
        await page.waitForFunction(predicate, { timeout, polling: 50 }, arg);
    } catch (err) {
        if (SCREENSHOTS) {
            await page.screenshot({ path: `${SCREENSHOTS}/failure-${what.replace(/\W+/g, '-').slice(0, 40)}.png` });
        }
        throw new Error(`${what}: ${err.message}; the page saw: ${page.problems.join('; ') || 'no errors'}; `
            + `its last requests: ${page.requests.slice(-12).join('; ')}`);
    }
}

/// Waits until a post whose text contains `text` is shown.
export function postShown(page, text, timeout = 10000) {
    return waitInPage(page, `the post "${text}" never showed`,
        (t) => [...document.querySelectorAll('[id^="postMessageText_"]')].some((el) => el.textContent.includes(t)),
        text, timeout);
}

/// How many shown posts contain `text`.
export function copiesShown(page, text) {
    return page.$$eval('[id^="postMessageText_"]', (els, t) => els.filter((el) => el.textContent.includes(t)).length, text);
}

/// Types into the message box and presses Enter.
export async function post(page, text, box = '#post_textbox') {
    await page.click(box);
    await page.type(box, text);
    await page.keyboard.press('Enter');
}

// ---- threads helper: files ----

/// A real PNG (RGB, a colour gradient) of width × height, as bytes: what a person attaches.
export async function pngBytes(width, height, blue = 180) {
    const { deflateSync } = await import('node:zlib');
    const table = new Int32Array(256).map((_, n) => {
        let c = n;
        for (let k = 0; k < 8; k++) {
            c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
        }
        return c;
    });
    const crc32 = (bytes) => {
        let c = -1;
        for (const byte of bytes) {
            c = table[(c ^ byte) & 0xff] ^ (c >>> 8);
        }
        return (c ^ -1) >>> 0;
    };
    const chunk = (type, data) => {
        const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
        const length = Buffer.alloc(4);
        length.writeUInt32BE(data.length);
        const crc = Buffer.alloc(4);
        crc.writeUInt32BE(crc32(body));
        return Buffer.concat([length, body, crc]);
    };
    const header = Buffer.alloc(13);
    header.writeUInt32BE(width, 0);
    header.writeUInt32BE(height, 4);
    header[8] = 8; // bit depth
    header[9] = 2; // RGB
    const rows = Buffer.alloc((width * 3 + 1) * height);
    for (let y = 0; y < height; y++) {
        const row = y * (width * 3 + 1);
        for (let x = 0; x < width; x++) {
            rows[row + 1 + x * 3] = Math.round((x / width) * 255);
            rows[row + 2 + x * 3] = Math.round((y / height) * 255);
            rows[row + 3 + x * 3] = blue;
        }
    }
    return Buffer.concat([
        Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
        chunk('IHDR', header), chunk('IDAT', deflateSync(rows)), chunk('IEND', Buffer.alloc(0)),
    ]);
}

/// Attaches files to the message box of `scope` (a selector: the channel's '#centerChannelFooter'
/// or '#rhsContainer') as a drop, a paste, or through its #fileUploadInput. `files` are
/// { name, type, base64 } (or { name, type, size } for zero-filled bytes made in the page).
export async function attachInPage(page, how, target, files) {
    await page.evaluate((how, target, files) => {
        const transfer = new DataTransfer();
        for (const file of files) {
            const bytes = file.base64 ? Uint8Array.from(atob(file.base64), (c) => c.charCodeAt(0)) : new Uint8Array(file.size);
            transfer.items.add(new File([bytes], file.name, { type: file.type }));
        }
        const element = document.querySelector(target);
        if (!element) {
            throw new Error(`nothing matches ${target}`);
        }
        if (how === 'paste') {
            element.dispatchEvent(new ClipboardEvent('paste', { clipboardData: transfer, bubbles: true, cancelable: true }));
        } else {
            element.dispatchEvent(new DragEvent('dragenter', { dataTransfer: transfer, bubbles: true, cancelable: true }));
            element.dispatchEvent(new DragEvent('dragover', { dataTransfer: transfer, bubbles: true, cancelable: true }));
            element.dispatchEvent(new DragEvent('drop', { dataTransfer: transfer, bubbles: true, cancelable: true }));
        }
    }, how, target, files);
}

/// The bytes behind a link of the page, fetched with the page's session, as base64.
export function fetchInPage(page, url) {
    return page.evaluate(async (url) => {
        const response = await fetch(url, { credentials: 'include' });
        if (!response.ok) {
            throw new Error(`${url}: ${response.status}`);
        }
        const bytes = new Uint8Array(await response.arrayBuffer());
        let text = '';
        for (const byte of bytes) {
            text += String.fromCharCode(byte);
        }
        return { base64: btoa(text), disposition: response.headers.get('content-disposition') };
    }, url);
}
