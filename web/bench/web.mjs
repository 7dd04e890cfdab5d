// Figures for the web client, against a running Chorus (NGINX in front of the nodes):
//   - the bundle's size, gzipped (what a first visit downloads);
//   - first load: from navigating to /{team}/channels/town-square with a session cookie and an
//     empty cache to the channel shown with its posts, in headless chromium (N loads);
//   - post → shown: a post typed in one browser (Enter) until it shows in another person's
//     browser, over 100 posts (p50, p90, p99, max).
//
//   scripts/up.sh
//   cd web && CHORUS_URL=http://127.0.0.1:8065 node bench/web.mjs [--loads 10] [--posts 100]

import { readdirSync, readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import {
    api, CHORUS_URL, launchBrowser, logInThroughThePage, newPage, PASSWORD, signUp, teamWith, unique,
} from '../tests/helpers.mjs';

const argument = (name, fallback) => {
    const index = process.argv.indexOf(name);
    return index > 0 ? Number(process.argv[index + 1]) : fallback;
};
const LOADS = argument('--loads', 10);
const POSTS = argument('--posts', 100);

const percentile = (values, p) => {
    const sorted = [...values].sort((a, b) => a - b);
    return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
};
const summary = (values) => `p50 ${percentile(values, 50)} ms, p90 ${percentile(values, 90)} ms, `
    + `p99 ${percentile(values, 99)} ms, max ${Math.max(...values)} ms (n=${values.length})`;

// The bundle as built (web/dist/static), gzipped at level 9 as a server would serve it: what
// every first visit loads, and the System Console's chunk, loaded only when an admin opens it.
const staticDir = new URL('../dist/static/', import.meta.url).pathname;
const sizes = { first: [0, 0], console: [0, 0] };
for (const name of readdirSync(staticDir)) {
    const bytes = readFileSync(staticDir + name);
    const part = name.startsWith('Console-') ? sizes.console : sizes.first;
    part[0] += bytes.length;
    part[1] += gzipSync(bytes, { level: 9 }).length;
}
const kib = (bytes) => (bytes / 1024).toFixed(1);
console.log(`bundle, first visit (JS + CSS): ${kib(sizes.first[0])} KiB, ${kib(sizes.first[1])} KiB gzipped; `
    + `System Console chunk: ${kib(sizes.console[0])} KiB, ${kib(sizes.console[1])} KiB gzipped`);

const browser = await launchBrowser();
try {
    const alice = await signUp('alice');
    const bob = await signUp('bob');
    const team = await teamWith(alice, bob);
    const { data: townSquare } = await api('GET', `/teams/${team.id}/channels/name/town-square`, undefined, alice.token);
    for (let i = 0; i < 30; i++) {
        await api('POST', '/posts', { channel_id: townSquare.id, message: `history ${i}` }, bob.token);
    }

    // First load, cold cache: a new browser context each time, logged in by its cookie.
    const loads = [];
    const login = await fetch(`${CHORUS_URL}/api/v4/users/login`, {
        method: 'POST', headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ login_id: alice.username, password: PASSWORD }),
    });
    const cookies = login.headers.getSetCookie().map((line) => {
        const [pair] = line.split(';');
        const [name, ...value] = pair.split('=');
        return { name, value: value.join('='), url: CHORUS_URL };
    });
    for (let i = 0; i < LOADS; i++) {
        const page = await newPage(browser);
        await page.setCookie(...cookies);
        const started = Date.now();
        await page.goto(`${CHORUS_URL}/${team.name}/channels/town-square`);
        await page.waitForFunction(() => [...document.querySelectorAll('[id^="postMessageText_"]')]
            .some((el) => el.textContent.includes('history 29')), { polling: 'raf', timeout: 30000 });
        loads.push(Date.now() - started);
        await page.browserContext().close();
    }
    console.log(`first load to the channel shown with its posts: ${summary(loads)}`);

    // Post -> shown in the other browser.
    const sender = await logInThroughThePage(browser, alice.username);
    const reader = await logInThroughThePage(browser, bob.username);
    await reader.evaluate(() => {
        window.__shownAt = {};
        new MutationObserver(() => {
            for (const el of document.querySelectorAll('[id^="postMessageText_"]')) {
                const match = el.textContent.match(/bench-(\d+)-/);
                if (match && !(match[1] in window.__shownAt)) {
                    window.__shownAt[match[1]] = Date.now();
                }
            }
        }).observe(document.body, { childList: true, subtree: true, characterData: true });
    });
    const run = unique('');
    const sentAt = {};
    for (let i = 0; i < POSTS; i++) {
        await sender.type('#post_textbox', `bench-${i}-${run}`);
        sentAt[i] = Date.now();
        await sender.keyboard.press('Enter');
        await reader.waitForFunction((n) => n in window.__shownAt, { polling: 10, timeout: 15000 }, String(i));
        await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const shownAt = await reader.evaluate(() => window.__shownAt);
    const latencies = Object.keys(sentAt).map((i) => shownAt[i] - sentAt[i]);
    console.log(`post typed in one browser -> shown in another: ${summary(latencies)}`);
} finally {
    await browser.close();
}
