// Shared by the compatibility suites (compat.test.mjs, startup.test.mjs): the official client
// pointed at CHORUS_URL, users signed up with random names, a websocket with what it saw.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import WebSocketImpl from 'ws';
import mattermostClient from '@mattermost/client';

export const { Client4, WebSocketClient, ClientError } = mattermostClient;

export const CHORUS_URL = (process.env.CHORUS_URL || '').replace(/\/+$/, '');
if (!CHORUS_URL) {
    throw new Error('CHORUS_URL is not set: point it at a running Chorus server, e.g. CHORUS_URL=http://127.0.0.1:8065 npm test');
}
if (!/^https?:\/\//.test(CHORUS_URL)) {
    throw new Error(`CHORUS_URL must start with http:// or https:// (got ${JSON.stringify(CHORUS_URL)})`);
}
export const WS_URL = CHORUS_URL.replace(/^http/, 'ws') + '/api/v4/websocket';
export const ADMIN_USER = process.env.CHORUS_ADMIN_USER || '';
export const ADMIN_PASSWORD = process.env.CHORUS_ADMIN_PASSWORD || '';

export const EVENT_TIMEOUT_MS = 5000;
export const ID_RE = /^[a-z0-9]{26}$/;

// WebSocketClient uses the global WebSocket (and WebSocket.OPEN) and, when it detects a sequence
// gap or a ping timeout, the global CloseEvent. Node 20 has neither, so provide them.
if (typeof globalThis.WebSocket === 'undefined') {
    globalThis.WebSocket = WebSocketImpl;
}
if (typeof globalThis.CloseEvent === 'undefined') {
    globalThis.CloseEvent = class CloseEvent extends Event {
        constructor(type, init = {}) {
            super(type);
            this.code = init.code ?? 0;
            this.reason = init.reason ?? '';
            this.wasClean = Boolean(init.wasClean);
        }
    };
}

// ---------------------------------------------------------------------------------------------
// helpers

export function rnd(prefix) {
    return prefix + randomBytes(6).toString('hex');
}

// lower-case letters only: a search term that no tokenizer splits or stems oddly
export function rndWord() {
    const letters = 'abcdefghijklmnopqrstuvwxyz';
    let word = 'zq';
    for (const b of randomBytes(10)) {
        word += letters[b % letters.length];
    }
    return word;
}

// The last HTTP answer, so that a failing request's error can say what the server sent
// (the library's ClientError carries only fields from a JSON error body). Tests send their
// requests one at a time, so "last" is the one that failed.
let lastHttp = null;
export const realFetch = globalThis.fetch;
globalThis.fetch = async (url, options = {}) => {
    lastHttp = { method: (options.method || 'get').toUpperCase(), url: String(url), status: null, contentType: null };
    const response = await realFetch(url, options);
    lastHttp.status = response.status;
    lastHttp.contentType = response.headers.get('content-type');
    return response;
};

export function newClient(token) {
    const client = new Client4();
    client.setUrl(CHORUS_URL);
    const doFetchWithResponse = client.doFetchWithResponse;
    client.doFetchWithResponse = async (url, options) => {
        let result;
        try {
            result = await doFetchWithResponse(url, options);
        } catch (err) {
            const http = lastHttp && lastHttp.url === url
                ? `HTTP ${lastHttp.status}, Content-Type ${JSON.stringify(lastHttp.contentType)}`
                : 'no HTTP answer';
            const detail = err instanceof ClientError
                ? `status_code=${err.status_code}, id=${err.server_error_id}`
                : String(err.cause?.code || err.cause?.message || '');
            err.message = `${(options.method || 'get').toUpperCase()} ${url} failed (${http}; ${detail}): ${err.message || '(empty message)'}`;
            throw err;
        }
        if (typeof result.data === 'string') {
            // every endpoint used here answers JSON; the client parses it only when the
            // Content-Type is exactly "application/json"
            throw new Error(`${(options.method || 'get').toUpperCase()} ${url}: the body was not parsed as JSON `
                + `(Content-Type ${JSON.stringify(result.headers.get('Content-Type'))}, must be exactly "application/json"): `
                + result.data.slice(0, 200));
        }
        return result;
    };
    if (token) {
        client.setToken(token);
    }
    return client;
}

export function pendingId(userId) {
    return `${userId}:${Date.now()}${randomBytes(3).toString('hex')}`;
}

// Users seen in this run that turned out to be system admins (the first user on a fresh server).
export const knownAdmins = [];

export async function signup() {
    const username = rnd('u');
    const email = `${username}@example.com`;
    const password = `Pw-${randomBytes(8).toString('hex')}-X1!`;
    const user = await newClient().createUser({ username, email, password });
    const client = newClient();
    await client.login(username, password);
    assert.ok(client.getToken(), 'login did not yield a session token (Token response header)');
    const result = { client, user, username, email, password };
    if (isSystemAdmin(user)) {
        knownAdmins.push(result);
    }
    return result;
}

export function isSystemAdmin(user) {
    return String(user.roles || '').split(' ').includes('system_admin');
}

// A Client4 logged in as a system admin: `candidate` itself when it is one, else the admin named
// by CHORUS_ADMIN_USER / CHORUS_ADMIN_PASSWORD, else an admin signed up earlier in this run.
export async function adminClient(candidate) {
    if (candidate && isSystemAdmin(candidate.user)) {
        return candidate.client;
    }
    if (ADMIN_USER && ADMIN_PASSWORD) {
        const client = newClient();
        const me = await client.login(ADMIN_USER, ADMIN_PASSWORD);
        assert.ok(isSystemAdmin(me), `CHORUS_ADMIN_USER ${ADMIN_USER} is not a system_admin (roles: ${me.roles})`);
        return client;
    }
    if (knownAdmins.length > 0) {
        return knownAdmins[0].client;
    }
    throw new Error('this test needs a system admin: set CHORUS_ADMIN_USER and CHORUS_ADMIN_PASSWORD '
        + '(or run against a fresh server, where the first user signed up becomes system_admin)');
}

export async function setupTeamAndChannel() {
    const a = await signup();
    const b = await signup();
    const team = await a.client.createTeam({ name: rnd('t'), display_name: 'Compat Team', type: 'O' });
    const channel = await a.client.createChannel({
        team_id: team.id,
        name: rnd('c'),
        display_name: 'Compat Channel',
        type: 'O',
    });
    await a.client.addToTeam(team.id, b.user.id);
    await a.client.addToChannel(b.user.id, channel.id);
    return { a, b, team, channel };
}

export async function expectClientError(promise, check) {
    let caught;
    try {
        await promise;
    } catch (err) {
        caught = err;
    }
    assert.ok(caught, 'the request was expected to fail but succeeded');
    assert.ok(caught instanceof ClientError,
        `expected a ClientError (an HTTP error answer with a JSON body), got: ${caught && caught.stack}`);
    check(caught);
    return caught;
}

export async function pollUntil(fn, what, timeoutMs = EVENT_TIMEOUT_MS) {
    const deadline = Date.now() + timeoutMs;
    let last;
    for (;;) {
        last = await fn();
        if (last) {
            return last;
        }
        if (Date.now() > deadline) {
            throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
        }
        await new Promise((resolve) => setTimeout(resolve, 100));
    }
}

// A WebSocketClient from @mattermost/client plus what it saw: `events` as delivered to its
// message listener, `raw` as every frame parsed straight off the socket (events and replies).
export function connectWebSocket(token) {
    const raw = [];
    const events = [];
    const closes = [];
    const errors = [];
    const sockets = [];
    const client = new WebSocketClient({
        newWebSocketFn: (url) => {
            const socket = new WebSocketImpl(url);
            socket.on('message', (data) => {
                try {
                    raw.push(JSON.parse(data.toString()));
                } catch (err) {
                    raw.push({ unparsable: data.toString(), error: String(err) });
                }
            });
            sockets.push({ url, socket });
            return socket;
        },
        // never reconnect behind the test's back quickly: a reconnect is a failure here
        minWebSocketRetryTime: 60000,
    });
    client.addMessageListener((msg) => events.push(msg));
    client.addCloseListener((failCount) => closes.push(failCount));
    client.addErrorListener((evt) => errors.push(evt));
    // as the web app does; it also makes the client record hello's connection_id
    client.addMissedMessageListener(() => closes.push('missed-messages'));
    client.initialize(WS_URL, token);

    const rawEventSeqs = () => raw.filter((m) => m.seq_reply === undefined).map((m) => `${m.seq}:${m.event}`).join(' ');
    const describe = () => `events delivered by the client: [${events.map((e) => `${e.seq}:${e.event}`).join(' ')}]; `
        + `events on the wire: [${rawEventSeqs()}]; closes: ${closes.length}, errors: ${errors.length}; `
        + `last frames: ${JSON.stringify(raw.slice(-5))}`;

    const waitFor = async (list, pred, what) => {
        const deadline = Date.now() + EVENT_TIMEOUT_MS;
        for (;;) {
            const found = list.find(pred);
            if (found) {
                return found;
            }
            if (closes.length > 0) {
                // WebSocketClient drops the connection when the server closes it or when an
                // event's seq is not the one it expects (a gap); either way the test has failed.
                throw new Error(`the websocket connection was dropped while waiting for ${what} `
                    + `(server closed it, or the client saw a seq gap); ${describe()}`);
            }
            if (Date.now() > deadline) {
                throw new Error(`timed out after ${EVENT_TIMEOUT_MS} ms waiting for ${what}; seen so far: ${describe()}`);
            }
            await new Promise((resolve) => setTimeout(resolve, 20));
        }
    };

    return {
        client,
        raw,
        events,
        closes,
        errors,
        sockets,
        waitForEvent: (name, pred = () => true) => waitFor(events, (e) => e.event === name && pred(e), `websocket event '${name}'`),
        waitForReply: (seq) => waitFor(raw, (m) => m.seq_reply === seq, `websocket reply with seq_reply ${seq}`),
        close: () => {
            client.close();
            for (const { socket } of sockets) {
                socket.onclose = () => {};
                if (socket.readyState !== WebSocketImpl.CLOSED) {
                    socket.terminate();
                }
            }
        },
    };
}

export function parseJsonString(value, what) {
    assert.equal(typeof value, 'string', `${what} must be a JSON string, got ${typeof value}`);
    return JSON.parse(value);
}

// Fails the suite at once, saying why, when CHORUS_URL does not answer.
export async function expectServer() {
    const url = `${CHORUS_URL}/api/v4/system/ping`;
    let response;
    try {
        response = await fetch(url, { signal: AbortSignal.timeout(5000) });
    } catch (err) {
        throw new Error(`cannot reach the Chorus server at CHORUS_URL=${CHORUS_URL} (GET ${url} failed: ${err.cause?.code || err.cause?.message || err.message})`);
    }
    await response.arrayBuffer();
}
