// The REST endpoints of `@mattermost/client`, and which of them a Chorus server serves.
//
//   node endpoints.mjs catalogue            # every endpoint the client can call, as JSON
//   CHORUS_TOKEN=… node endpoints.mjs coverage URL [--markdown FILE]
//                                           # which of them URL serves (probed as CHORUS_TOKEN's user),
//                                           # as JSON; the table for docs/ into FILE
//
// The catalogue is read from the client itself, not from a hand-kept list: every method of a
// `Client4` is called with placeholder arguments while `fetch` only records the URL and method.
// A path segment built from an argument becomes `{segment-before-it}` (`/users/{users}/teams/{teams}`).
//
// A server "serves" an endpoint unless the router answers for it (see `serves`). The probe logs
// in as CHORUS_TOKEN's user (use a throwaway plain user: bodies are `{}` and ids random, so it
// changes nothing of anyone else's).
import fs from 'node:fs';

import { createRequire } from 'node:module';

import client from '@mattermost/client';

const { Client4 } = client;
const CLIENT_VERSION = createRequire(import.meta.url)('@mattermost/client/package.json').version;

const BASE = 'http://catalogue.invalid';

function placeholderArgs() {
    return Array.from({ length: 8 }, (_, index) => `ZZARG${index}ZZ`);
}

/// (method, path template) of every fetch a Client4 method makes with placeholder arguments.
export async function catalogue() {
    const recorded = new Map();
    const client = new Client4();
    client.setUrl(BASE);
    const realFetch = globalThis.fetch;
    let current = null;
    globalThis.fetch = async (url, options = {}) => {
        const method = (options.method || 'get').toUpperCase();
        record(recorded, method, String(url), current);
        throw new Error('recorded');
    };
    // Uploads go through XMLHttpRequest in a few methods; they are also recorded by doFetch.
    try {
        for (const name of Object.keys(client).sort()) {
            const member = client[name];
            if (typeof member !== 'function' || name.startsWith('get') && name.endsWith('Route')) {
                continue;
            }
            if (['doFetch', 'doFetchWithResponse', 'trackEvent', 'pageVisited', 'setUrl'].includes(name)) {
                continue;
            }
            current = name;
            try {
                const result = member.apply(client, placeholderArgs());
                if (result && typeof result.then === 'function') {
                    await result.catch(() => {});
                }
            } catch {
                // a method that validates its arguments before fetching: nothing recorded
            }
        }
    } finally {
        globalThis.fetch = realFetch;
    }
    return [...recorded.values()].sort((a, b) =>
        a.path === b.path ? a.method.localeCompare(b.method) : a.path.localeCompare(b.path));
}

function record(recorded, method, url, clientMethod) {
    if (!url.startsWith(BASE)) {
        return;
    }
    let path = url.slice(BASE.length).split('?')[0];
    if (!path.startsWith('/api/v4/')) {
        return;
    }
    path = path.slice('/api/v4'.length);
    const segments = path.split('/');
    // A segment built from an argument, including an object's missing field (`undefined`).
    const fromArgument = /ZZARG\d+ZZ|\[object Object\]|undefined/;
    const cleaned = segments.map((segment, index) => {
        if (!fromArgument.test(segment)) {
            return segment;
        }
        const before = segments[index - 1] || 'id';
        return fromArgument.test(before) ? '{value}' : `{${before}}`;
    }).join('/');
    const key = `${method} ${cleaned}`;
    if (!recorded.has(key)) {
        recorded.set(key, { method, path: cleaned, client_methods: [] });
    }
    const entry = recorded.get(key);
    if (clientMethod && !entry.client_methods.includes(clientMethod)) {
        entry.client_methods.push(clientMethod);
    }
}

function randomId() {
    const alphabet = 'abcdefghijkmnopqrstuwxyz13456789';
    let id = '';
    for (let index = 0; index < 26; index += 1) {
        id += alphabet[Math.floor(Math.random() * alphabet.length)];
    }
    return id;
}

const BOGUS_SEGMENT = 'zzchorusprobezz';

async function probe(base, method, path, token) {
    const headers = { 'Content-Type': 'application/json', 'X-Requested-With': 'XMLHttpRequest' };
    if (token) {
        headers.Authorization = `Bearer ${token}`;
    }
    const response = await fetch(`${base}/api/v4${path}`, {
        method,
        headers,
        body: ['GET', 'HEAD'].includes(method) ? undefined : '{}',
    });
    const text = await response.text();
    let id = '';
    try {
        id = JSON.parse(text).id || '';
    } catch {
        // not JSON: an answer of the endpoint's own
    }
    return { status: response.status, id };
}

/// Whether `base` serves `endpoint`, asked as the user of `token` (ids are random, bodies `{}`).
///
/// Not served: the router's own 404 or a 405; or the same answer as for the path with its last
/// fixed segment replaced by nonsense (`/users/autocomplete` answering like `/users/zzz…`: the
/// router took the word for a user id).
export async function serves(base, endpoint, token) {
    // Logging out would end the probe's session.
    const as = endpoint.method === 'POST' && endpoint.path === '/users/logout' ? undefined : token;
    const path = endpoint.path.replace(/\{[^}]*\}/g, () => randomId());
    const answer = await probe(base, endpoint.method, path, as);
    if (answer.status === 405 || answer.status === 404 && answer.id === 'api.context.404.app_error') {
        return false;
    }
    const segments = path.split('/');
    const templateSegments = endpoint.path.split('/');
    const lastFixed = templateSegments.findLastIndex((segment, index) => index > 1 && segment && !segment.startsWith('{'));
    if (lastFixed < 0) {
        return true;
    }
    segments[lastFixed] = BOGUS_SEGMENT;
    const bogus = await probe(base, endpoint.method, segments.join('/'), as);
    return !(bogus.status === answer.status && bogus.id === answer.id);
}

export async function coverage(base, token) {
    const endpoints = await catalogue();
    const results = [];
    for (const endpoint of endpoints) {
        results.push({ ...endpoint, served: await serves(base, endpoint, token) });
    }
    return results;
}

function markdown(results) {
    const served = results.filter((result) => result.served);
    const lines = [
        '# REST endpoints of `@mattermost/client` that Chorus serves',
        '',
        'Generated by `scripts/api-coverage.sh` (`tests/compat/js/endpoints.mjs coverage`) against a fresh',
        'node: every method of',
        "the client's `Client4` is called with placeholder arguments to collect the endpoints it can",
        'call; each is probed as a plain user with random ids and counts as served unless the answer is',
        "the router's own 404 (`api.context.404.app_error`) or 405, or the same as with its last fixed",
        'segment replaced by nonsense (the router took the word for an id).',
        '',
        `**${served.length} of ${results.length} endpoints served** (@mattermost/client ${CLIENT_VERSION}).`,
        '',
        '| served | method | path | client methods |',
        '|---|---|---|---|',
    ];
    for (const result of results) {
        lines.push(`| ${result.served ? 'yes' : ''} | ${result.method} | \`${result.path}\` | ${result.client_methods.join(', ')} |`);
    }
    return lines.join('\n') + '\n';
}

async function main() {
    const [command, url, flag, file] = process.argv.slice(2);
    if (command === 'catalogue') {
        process.stdout.write(JSON.stringify(await catalogue(), null, 1) + '\n');
        return;
    }
    if (command === 'coverage' && url) {
        const results = await coverage(url.replace(/\/$/, ''), process.env.CHORUS_TOKEN);
        if (flag === '--markdown' && file) {
            fs.writeFileSync(file, markdown(results));
        }
        const served = results.filter((result) => result.served).length;
        process.stdout.write(JSON.stringify({ served, total: results.length, endpoints: results }, null, 1) + '\n');
        return;
    }
    process.stderr.write('usage: node endpoints.mjs catalogue | coverage URL [--markdown FILE]\n');
    process.exit(2);
}

if (import.meta.url === `file://${process.argv[1]}`) {
    await main();
}
