// The System Console in a real browser, as an operator meets it: the admin logs in on /login and
// opens /admin_console. High Availability shows one green row per node, and the row of a node
// that is SIGKILLed turns red without a reload (that test runs LAST: the cluster has one node
// fewer afterwards). Reload Configuration from Disk and Recycle Database Connections say they
// worked; the Database page lists the master and its replica; Users deactivates, makes admin and
// resets a password (checked through the API); Jobs runs data retention; a non-admin is refused.
//
//   CHORUS_URL=http://127.0.0.1:8065 CHORUS_ADMIN_USER=… CHORUS_ADMIN_PASSWORD=… \
//     CHORUS_NODES='[{"url":…,"pid":…}, …]' node --test --test-concurrency=1 tests/console.test.mjs

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
    ADMIN, api, CHORUS_URL, launchBrowser, logInAdmin, newPage, NODES, PASSWORD, SCREENSHOTS, signUp, unique,
    waitInPage,
} from './helpers.mjs';

let browser;
let admin;
before(async () => {
    assert.ok(ADMIN.username && ADMIN.password, 'CHORUS_ADMIN_USER and CHORUS_ADMIN_PASSWORD name the system admin');
    admin = await logInAdmin();
    browser = await launchBrowser();
});
after(async () => { await browser?.close(); });

const shot = async (page, name) => {
    if (SCREENSHOTS) {
        await page.screenshot({ path: `${SCREENSHOTS}/${name}`, fullPage: false });
    }
};

/// Logs in on /login (the admin may be in no team, so this waits only for the page to leave
/// /login), then opens a System Console page. A debug build under load takes seconds to check a
/// password, so the admin logs in once and the admin's tests share that page.
async function openConsole(username, password, section = 'environment/high_availability') {
    const page = await newPage(browser);
    page.on('dialog', (dialog) => dialog.accept());
    await page.goto(`${CHORUS_URL}/login`, { waitUntil: 'networkidle0' });
    await page.type('#input_loginId', username);
    await page.type('#input_password-input', password);
    await page.click('#saveSetting');
    await waitInPage(page, 'the login never finished', () => window.location.pathname !== '/login', null, 60000);
    await page.goto(`${CHORUS_URL}/admin_console/${section}`, { waitUntil: 'domcontentloaded' });
    return page;
}

let adminPage;
/// The admin's page, logged in once, showing `section`.
async function asAdmin(section = 'environment/high_availability') {
    if (!adminPage) {
        adminPage = await openConsole(ADMIN.username, ADMIN.password, section);
    } else {
        await adminPage.goto(`${CHORUS_URL}/admin_console/${section}`, { waitUntil: 'domcontentloaded' });
    }
    return adminPage;
}

/// The API's answer once `check` accepts it: a read right after a write made by another
/// session may come from a replica that has not replayed it yet (a second or so under load).
async function eventually(what, read, check, timeout = 15000) {
    const deadline = Date.now() + timeout;
    for (;;) {
        const value = await read();
        if (check(value)) {
            return value;
        }
        if (Date.now() > deadline) {
            assert.fail(`${what}: still ${JSON.stringify(value).slice(0, 300)} after ${timeout / 1000} s`);
        }
        await new Promise((resolve) => setTimeout(resolve, 500));
    }
}

/// Clicks the button whose text is exactly `label`.
async function clickButton(page, label) {
    await waitInPage(page, `no button "${label}"`,
        (text) => [...document.querySelectorAll('button')].some((b) => b.textContent.trim() === text && !b.disabled), label);
    await page.evaluate((text) => {
        [...document.querySelectorAll('button')].find((b) => b.textContent.trim() === text && !b.disabled).click();
    }, label);
}

const nodeRows = (page) => page.$$eval('[data-testid="cluster-node"]', (rows) => rows.map((row) => ({
    id: row.dataset.nodeId, status: row.dataset.status, text: row.textContent,
})));

/// Whether a node's process is still running (an earlier test file may have killed one; a node
/// without a pid runs in the test process).
const running = (node) => {
    if (!node.pid) {
        return true;
    }
    try {
        process.kill(node.pid, 0);
        return true;
    } catch {
        return false;
    }
};
const portOf = (node) => new URL(node.url).port;

/// Waits until every running node of CHORUS_NODES has a green row (found by its API address),
/// or, without CHORUS_NODES, until there are rows and all are green.
function liveNodesGreen(page, what, timeout = 30000) {
    const ports = NODES.filter(running).map(portOf);
    return waitInPage(page, what, (wanted) => {
        const rows = [...document.querySelectorAll('[data-testid="cluster-node"]')];
        if (wanted.length === 0) {
            return rows.length > 0 && rows.every((row) => row.dataset.status === 'green');
        }
        return wanted.every((port) => rows.some((row) => (row.dataset.address ?? '').endsWith(`:${port}`) && row.dataset.status === 'green'));
    }, ports, timeout);
}

test('the High Availability page shows one green row per node, and says when it refreshed', async () => {
    const page = await asAdmin();
    await liveNodesGreen(page, 'the running nodes never all showed green rows');
    const rows = await nodeRows(page);
    assert.ok(rows.length >= Math.max(1, NODES.filter(running).length), `one row per node (${rows.length})`);
    const green = rows.filter((row) => row.status === 'green');
    assert.ok(green.every((row) => /Green/.test(row.text)), 'each green row says Green');
    if (green.length === rows.length) {
        assert.match(await page.$eval('[data-testid="cluster-summary"]', (el) => el.textContent), new RegExp(`All ${rows.length} servers`));
    }
    assert.match(await page.$eval('[data-testid="last-updated"]', (el) => el.textContent), /Updated/);
    assert.equal(await page.$$eval('.badge.leader', (els) => els.filter((el) => el.textContent === 'Leader').length), 1, 'one leader');
    assert.equal(await page.$eval('a.active', (el) => el.textContent), 'High Availability');
    // It refreshes by itself: another GET /cluster/status 5 s after the last answer.
    const asked = () => page.requests.filter((line) => line.includes('/api/v4/cluster/status')).length;
    const before = asked();
    await eventually('the page never asked for the cluster status again', async () => asked(), (n) => n > before, 20000);
    // Settings an environment variable sets are marked so (GET /config/environment).
    const { data: environment } = await api('GET', '/config/environment', undefined, admin.token);
    const shown = ['Enable', 'ClusterName', 'OverrideHostname', 'UseIPAddress', 'GossipPort', 'EnableGossipEncryption', 'ReadOnlyConfig'];
    const fromEnvironment = shown.filter((key) => environment.ClusterSettings?.[key] === true).length;
    await waitInPage(page, 'the environment variable badges never showed', (n) =>
        document.querySelectorAll('[data-testid="from-environment"]').length === n, fromEnvironment);
    await shot(page, 'console-ha.png');
});

test('a person who is not a system admin gets the not-allowed page, with a way back to chat', async () => {
    const person = await signUp('notadmin');
    const page = await openConsole(person.username, PASSWORD);
    await waitInPage(page, 'the not-allowed page never showed', () => document.querySelector('#console-not-allowed'), null, 30000);
    assert.match(await page.$eval('#console-not-allowed', (el) => el.textContent), /system admins/);
    assert.equal(await page.$('[data-testid="cluster-node"]'), null, 'no node rows');
    await shot(page, 'console-not-allowed.png');
    assert.ok(!page.requests.some((line) => line.includes('/api/v4/cluster/status')), 'the page did not even ask');
    await page.click('#console-not-allowed a');
    await waitInPage(page, 'Back to chat did not leave the console', () => !window.location.pathname.startsWith('/admin_console'));
    await page.browserContext().close();
});

test('Reload Configuration from Disk and Recycle Database Connections succeed and say so', async () => {
    const page = await asAdmin('environment/web_server');
    await clickButton(page, 'Reload Configuration from Disk');
    await waitInPage(page, 'the reload never said it worked',
        () => [...document.querySelectorAll('.console-result.ok')].some((el) => /reloaded/.test(el.textContent)));
    assert.ok(page.requests.some((line) => /HTTP 200: POST .*\/api\/v4\/config\/reload$/.test(line)), 'POST /config/reload answered 200');
    await shot(page, 'console-web-server.png');

    await page.click('[data-testid="nav-database"]');
    await clickButton(page, 'Recycle Database Connections');
    await waitInPage(page, 'the recycle never said it worked',
        () => [...document.querySelectorAll('.console-result.ok')].some((el) => /recycled/.test(el.textContent)));
    assert.ok(page.requests.some((line) => /HTTP 200: POST .*\/api\/v4\/database\/recycle$/.test(line)), 'POST /database/recycle answered 200');
    assert.equal(new URL(page.url()).pathname, '/admin_console/environment/database');
});

test('the Database page lists the master and each replica with their state', async () => {
    const { data: status } = await api('GET', '/database/status', undefined, admin.token);
    const page = await asAdmin('environment/database');
    await waitInPage(page, 'the database sources never showed',
        (n) => document.querySelectorAll('[data-testid="database-source"]').length === n, 1 + status.replicas.length);
    const rows = await page.$$eval('[data-testid="database-source"]', (els) => els.map((el) => ({ role: el.dataset.role, text: el.textContent })));
    assert.equal(rows.filter((row) => row.role === 'master').length, 1);
    assert.ok(rows.filter((row) => row.role === 'replica').length >= 1, 'the test cluster has a replica');
    assert.match(rows[0].text, new RegExp(status.master.source.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
    assert.match(rows[1].text, /in use/);
    await waitInPage(page, 'the sources never all showed green',
        () => [...document.querySelectorAll('[data-testid="database-source"]')].every((el) => el.dataset.status === 'green'), null, 20000);
    await shot(page, 'console-database.png');
});

test('the Users page deactivates one person, makes another a system admin and resets a password', async () => {
    const carol = await signUp('carol');
    const dave = await signUp('dave');
    const page = await asAdmin('user_management/users');
    const row = (username) => `[data-testid="user-row"][data-username="${username}"]`;

    await page.waitForSelector('#searchUsers');
    await page.type('#searchUsers', carol.username);
    await page.keyboard.press('Enter');
    await page.waitForSelector(`${row(carol.username)} [data-action="deactivate"]`);
    await page.click(`${row(carol.username)} [data-action="deactivate"]`);
    await waitInPage(page, 'carol never showed as deactivated',
        (sel) => document.querySelector(sel)?.dataset.active === 'false', row(carol.username));
    await eventually('the server has carol deactivated', async () => (await api('GET', `/users/${carol.user.id}`, undefined, admin.token)).data,
        (user) => user.delete_at > 0);
    await assert.rejects(api('POST', '/users/login', { login_id: carol.username, password: PASSWORD }), /40[13]/, 'carol cannot log in');
    // The status filter: carol is among the deactivated, not the active.
    await page.select('#userFilter', 'active');
    await waitInPage(page, 'carol still listed among the active', (sel) => !document.querySelector(sel) && document.querySelector('[data-testid="users-table"]'), row(carol.username));
    await page.select('#userFilter', 'inactive');
    await page.waitForSelector(row(carol.username));
    await page.select('#userFilter', 'all');

    await page.click('#searchUsers', { clickCount: 3 });
    await page.type('#searchUsers', dave.username);
    await page.keyboard.press('Enter');
    await page.waitForSelector(`${row(dave.username)} [data-action="make-admin"]`);
    await page.click(`${row(dave.username)} [data-action="make-admin"]`);
    await waitInPage(page, 'dave never showed as a system admin',
        (sel) => document.querySelector(sel)?.dataset.admin === 'true', row(dave.username));
    const daveNow = await eventually('the server has dave as a system admin', async () => (await api('GET', `/users/${dave.user.id}`, undefined, admin.token)).data,
        (user) => user.roles.split(' ').includes('system_admin'));
    assert.ok(daveNow.roles.split(' ').includes('system_user'), 'dave keeps system_user');

    const newPassword = `New-${unique('pw')}-Z9!`;
    await page.click(`${row(dave.username)} [data-action="reset-password"]`);
    await page.type(`${row(dave.username)} [data-testid="new-password"]`, newPassword);
    await page.click(`${row(dave.username)} .reset-password button[type="submit"]`);
    await waitInPage(page, 'the password reset never said it worked',
        () => /Set a new password for/.test(document.querySelector('[data-testid="users-notice"]')?.textContent ?? ''), null, 60000);
    await api('POST', '/users/login', { login_id: dave.username, password: newPassword });

    await page.click('#searchUsers', { clickCount: 3 });
    await page.keyboard.press('Backspace');
    await page.keyboard.press('Enter');
    await waitInPage(page, 'clearing the search never listed everyone', () => document.querySelectorAll('[data-testid="user-row"]').length > 2);
    await shot(page, 'console-users.png');
});

test('a bad password is refused with the server\'s message, and Revoke Sessions logs a person out', async () => {
    const erin = await signUp('erin');
    const page = await asAdmin('user_management/users');
    const row = `[data-testid="user-row"][data-username="${erin.username}"]`;
    await page.waitForSelector('#searchUsers');
    await page.type('#searchUsers', erin.username);
    await page.keyboard.press('Enter');
    await page.waitForSelector(`${row} [data-action="reset-password"]`);
    await page.click(`${row} [data-action="reset-password"]`);
    await page.type(`${row} [data-testid="new-password"]`, 'x');
    await page.click(`${row} .reset-password button[type="submit"]`);
    await waitInPage(page, 'the refusal never showed',
        () => /Could not do that/.test(document.querySelector('[data-testid="users-notice"]')?.textContent ?? ''), null, 60000);
    const text = await page.$eval('[data-testid="users-notice"]', (el) => el.textContent);
    assert.ok(text.length > `Could not do that for @${erin.username}: `.length + 5, `the server's reason is shown: ${text}`);
    assert.ok(await page.$(`${row} [data-testid="new-password"]`), 'the form stays open to try again');
    await api('POST', '/users/login', { login_id: erin.username, password: PASSWORD });

    // Revoke Sessions logs erin out everywhere: her token stops working.
    await api('GET', '/users/me', undefined, erin.token);
    await page.click(`${row} [data-action="revoke-sessions"]`);
    await waitInPage(page, 'the revoke never said it worked',
        () => /Logged out every session of/.test(document.querySelector('[data-testid="users-notice"]')?.textContent ?? ''), null, 30000);
    await eventually('erin\'s session is revoked', () => api('GET', '/users/me', undefined, erin.token).then(() => 'still valid', (err) => err.message),
        (result) => / 401 /.test(result));
});

test('the Logging page shows the levels, read-only with the reason when ReadOnlyConfig is on', async () => {
    const { data: config } = await api('GET', '/config', undefined, admin.token);
    const readOnly = Boolean(config.ClusterSettings?.Enable && config.ClusterSettings?.ReadOnlyConfig);
    const page = await asAdmin('environment/logging');
    await page.waitForSelector('[data-testid="logging-form"]');
    assert.equal(await page.$eval('select[id="LogSettings.FileLevel"]', (el) => el.value), config.LogSettings.FileLevel);
    assert.equal(await page.$eval('select[id="LogSettings.ConsoleLevel"]', (el) => el.value), config.LogSettings.ConsoleLevel);
    if (readOnly) {
        assert.match(await page.$eval('[data-testid="read-only-notice"]', (el) => el.textContent), /ReadOnlyConfig is set/);
        assert.equal(await page.$eval('[data-testid="logging-form"] fieldset', (el) => el.disabled), true);
        assert.equal(await page.$eval('[data-testid="save-logging"]', (el) => el.disabled), true);
        await shot(page, 'console-logging.png');
    } else {
        const original = config.LogSettings.FileLevel;
        const wanted = original === 'DEBUG' ? 'INFO' : 'DEBUG';
        await page.select('select[id="LogSettings.FileLevel"]', wanted);
        await page.click('[data-testid="save-logging"]');
        await waitInPage(page, 'the save never said it worked', () => /Saved/.test(document.querySelector('.console-result.ok')?.textContent ?? ''));
        const { data: saved } = await api('GET', '/config', undefined, admin.token);
        assert.equal(saved.LogSettings.FileLevel, wanted);
        await api('PUT', '/config/patch', { LogSettings: { FileLevel: original } }, admin.token);
    }
});

test('a save the server refuses shows the server\'s message', async (t) => {
    const { data: config } = await api('GET', '/config', undefined, admin.token);
    if (!(config.ClusterSettings?.Enable && config.ClusterSettings?.ReadOnlyConfig)) {
        t.skip('the configuration is not read-only: the server would accept the save');
        return;
    }
    // The page is told the configuration is editable; the server, which knows better, refuses.
    const page = await asAdmin();
    const editable = JSON.stringify({ ...config, ClusterSettings: { ...config.ClusterSettings, ReadOnlyConfig: false } });
    const intercept = (request) => {
        if (request.method() === 'GET' && new URL(request.url()).pathname === '/api/v4/config') {
            request.respond({ status: 200, contentType: 'application/json', body: editable });
        } else {
            request.continue();
        }
    };
    await page.setRequestInterception(true);
    page.on('request', intercept);
    try {
        await page.goto(`${CHORUS_URL}/admin_console/environment/logging`, { waitUntil: 'domcontentloaded' });
        await page.waitForSelector('[data-testid="logging-form"] fieldset:not([disabled])');
        assert.equal(await page.$('[data-testid="read-only-notice"]'), null);
        await page.select('select[id="LogSettings.FileLevel"]', config.LogSettings.FileLevel === 'DEBUG' ? 'INFO' : 'DEBUG');
        await page.click('[data-testid="save-logging"]');
        await waitInPage(page, 'the refusal never showed',
            () => /read-only/.test(document.querySelector('.console-result.failed')?.textContent ?? ''), null, 30000);
        const { data: after } = await api('GET', '/config', undefined, admin.token);
        assert.equal(after.LogSettings.FileLevel, config.LogSettings.FileLevel, 'nothing was saved');
    } finally {
        page.off('request', intercept);
        await page.setRequestInterception(false);
    }
});

test('the Jobs page runs a data retention job and lists it', async () => {
    const page = await asAdmin('environment/jobs');
    await page.waitForSelector('[data-testid="jobs-table"]');
    const known = new Set(await page.$$eval('[data-testid="job-row"]', (rows) => rows.map((row) => row.dataset.jobId)));
    await clickButton(page, 'Run Deletion Job Now');
    await waitInPage(page, 'the new data retention job was never listed', (ids) => [...document.querySelectorAll('[data-testid="job-row"][data-type="data_retention"]')]
        .some((row) => !ids.includes(row.dataset.jobId)), [...known]);
    const jobId = await page.$$eval('[data-testid="job-row"][data-type="data_retention"]',
        (rows, ids) => rows.find((row) => !ids.includes(row.dataset.jobId)).dataset.jobId, [...known]);
    await eventually('the server lists the job the page created', async () => (await api('GET', '/jobs/type/data_retention', undefined, admin.token)).data,
        (jobs) => jobs.some((job) => job.id === jobId));
    // Its status refreshes by itself as a node's job server runs it.
    await waitInPage(page, 'the job never showed finished', (id) =>
        ['success', 'warning', 'error'].includes(document.querySelector(`[data-job-id="${id}"]`)?.dataset.jobStatus), jobId, 60000);
    await shot(page, 'console-jobs.png');
});

test('the Teams page archives and restores a team (checked through the API)', async () => {
    const { data: team } = await api('POST', '/teams', { name: unique('arch'), display_name: `Archive me ${unique('')}`, type: 'O' }, admin.token);
    const page = await asAdmin('user_management/teams');
    const row = `[data-testid="team-row"][data-name="${team.name}"]`;
    await page.waitForSelector('#searchTeams');
    await page.type('#searchTeams', team.name);
    await page.keyboard.press('Enter');
    await page.waitForSelector(`${row} [data-action="archive"]`);
    await page.click(`${row} [data-action="archive"]`);
    await waitInPage(page, 'the team never showed archived', (sel) => document.querySelector(sel)?.dataset.archived === 'true', row);
    await eventually('the server has the team archived', async () => (await api('GET', `/teams/${team.id}`, undefined, admin.token)).data,
        (one) => one.delete_at > 0);
    await shot(page, 'console-teams.png');
    await page.click(`${row} [data-action="restore"]`);
    await waitInPage(page, 'the team never showed restored', (sel) => document.querySelector(sel)?.dataset.archived === 'false', row);
    await eventually('the server has the team restored', async () => (await api('GET', `/teams/${team.id}`, undefined, admin.token)).data,
        (one) => one.delete_at === 0);
});

test('the Channels page lists channels with their team, archives, restores and makes one public', async () => {
    const { data: team } = await api('POST', '/teams', { name: unique('chan'), display_name: `Channels ${unique('')}`, type: 'O' }, admin.token);
    // Channels are listed by display name, 50 a page: "00 …" sorts first.
    const { data: channel } = await api('POST', '/channels', {
        team_id: team.id, name: unique('priv'), display_name: `00 Console ${unique('')}`, type: 'P',
    }, admin.token);
    const page = await asAdmin('user_management/channels');
    const row = `[data-testid="channel-row"][data-name="${channel.name}"]`;
    await page.waitForSelector(`${row} [data-action="archive"]`);
    assert.match(await page.$eval(row, (el) => el.textContent), new RegExp(`${team.display_name}.*Private`));

    await page.click(`${row} [data-action="make-public"]`);
    await waitInPage(page, 'the channel never showed public', (sel) => document.querySelector(sel)?.dataset.type === 'O', row);
    await eventually('the server has the channel public', async () => (await api('GET', `/channels/${channel.id}`, undefined, admin.token)).data,
        (one) => one.type === 'O');

    await page.click(`${row} [data-action="archive"]`);
    await waitInPage(page, 'the channel never showed archived', (sel) => document.querySelector(sel)?.dataset.archived === 'true', row);
    await eventually('the server has the channel archived', async () => (await api('GET', `/channels/${channel.id}`, undefined, admin.token)).data,
        (one) => one.delete_at > 0);
    await page.click(`${row} [data-action="restore"]`);
    await waitInPage(page, 'the channel never showed restored', (sel) => document.querySelector(sel)?.dataset.archived === 'false', row);
    await eventually('the server has the channel restored', async () => (await api('GET', `/channels/${channel.id}`, undefined, admin.token)).data,
        (one) => one.delete_at === 0);
    await shot(page, 'console-channels.png');
});

// LAST: the cluster has one node fewer afterwards.
test('the row of a SIGKILLed node turns red without a reload', async (t) => {
    const live = NODES.filter(running);
    const killable = live.filter((node) => node.pid);
    if (killable.length === 0 || live.length < 2) {
        t.skip('CHORUS_NODES names no running node process to kill, or only one node runs');
        return;
    }
    const victim = killable[killable.length - 1];
    const port = portOf(victim);
    const page = await asAdmin();
    await liveNodesGreen(page, 'the running nodes never all showed green');
    // The victim's row: the one whose API address has its port.
    const victimId = await page.$$eval('[data-testid="cluster-node"]', (rows, p) =>
        rows.find((row) => (row.dataset.address ?? '').endsWith(`:${p}`) && row.dataset.status === 'green')?.dataset.nodeId, port);
    assert.ok(victimId, `a row shows the victim's address (port ${port})`);
    await page.evaluate(() => { window.__notReloaded = true; });

    process.kill(victim.pid, 'SIGKILL');
    const killedAt = Date.now();
    await waitInPage(page, 'the killed node never turned red', (id) =>
        document.querySelector(`[data-testid="cluster-node"][data-node-id="${id}"]`)?.dataset.status === 'red', victimId, 45000);
    const seconds = (Date.now() - killedAt) / 1000;
    assert.equal(await page.evaluate(() => window.__notReloaded), true, 'the page was not reloaded');
    const rows = await nodeRows(page);
    assert.ok(rows.some((row) => row.id === victimId), 'the dead node keeps its row');
    const others = live.filter((node) => node !== victim).map(portOf);
    const othersGreen = await page.$$eval('[data-testid="cluster-node"]', (els, ports) => ports.map((p) => els
        .some((el) => (el.dataset.address ?? '').endsWith(`:${p}`) && el.dataset.status === 'green')), others);
    assert.deepEqual(othersGreen, others.map(() => true), 'the nodes still running stay green');
    assert.match(rows.find((row) => row.id === victimId).text, /Server is down/);
    assert.match(await page.$eval('[data-testid="cluster-summary"]', (el) => el.textContent), /\d+ of \d+ servers need attention/);
    t.diagnostic(`the killed node's row turned red ${seconds.toFixed(1)} s after SIGKILL`);
    await shot(page, 'console-ha-red.png');
});
