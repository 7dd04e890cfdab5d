// The sidebar, teams, direct messages, unreads, search, sign-up and log-out, in a real browser
// against a cluster, with two people where live behaviour matters. Every test makes its own
// people and teams (unique names), so it runs on a server other tests have used.
//
//   CHORUS_URL=http://127.0.0.1:8065 CHORUS_ADMIN_USER=… CHORUS_ADMIN_PASSWORD=… \
//     node --test --test-concurrency=1 tests/sidebar.test.mjs

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import {
    api, CHORUS_URL, launchBrowser, logInAdmin, logInThroughThePage, newPage, PASSWORD, post, postShown, SCREENSHOTS,
    signUp, teamWith, unique, waitInPage,
} from './helpers.mjs';

let browser;
before(async () => { browser = await launchBrowser(); });
after(async () => { await browser?.close(); });

const tag = () => randomBytes(3).toString('hex');
const pathOf = (page) => new URL(page.url()).pathname;

async function shot(page, name) {
    if (SCREENSHOTS) {
        await page.screenshot({ path: `${SCREENSHOTS}/${name}` });
    }
}

/// A channel made through the API by `owner` in `team`, with `others` in it.
async function channelWith(owner, team, { type = 'O', display = `Chan ${tag()}` } = {}, ...others) {
    const { data: channel } = await api('POST', '/channels', { team_id: team.id, name: unique('c-'), display_name: display, type }, owner.token);
    for (const other of others) {
        await api('POST', `/channels/${channel.id}/members`, { user_id: other.user.id }, owner.token);
    }
    return channel;
}

async function apiPost(person, channelId, message) {
    const { data } = await api('POST', '/posts', { channel_id: channelId, message }, person.token);
    return data;
}

/// The sidebar item of a channel: whether it is shown bold (unread) and its mention badge.
function sidebarState(page, channelName) {
    return page.evaluate((name) => {
        const item = document.getElementById(`sidebarItem_${name}`);
        if (!item) {
            return null;
        }
        const badge = item.querySelector('.badge');
        return { unread: item.classList.contains('unread'), bold: Number(getComputedStyle(item).fontWeight) >= 600, mentions: badge ? Number(badge.textContent) : 0 };
    }, channelName);
}

/// Waits until the channel's sidebar item is (or is not) unread with `mentions` on its badge.
function waitForSidebar(page, what, channelName, { unread, mentions }) {
    return waitInPage(page, what, ([name, wantUnread, wantMentions]) => {
        const item = document.getElementById(`sidebarItem_${name}`);
        if (!item) {
            return false;
        }
        const badge = item.querySelector('.badge');
        return item.classList.contains('unread') === wantUnread && (badge ? Number(badge.textContent) : 0) === wantMentions;
    }, [channelName, unread, mentions]);
}

test('sign up through the page, land on "no team", create a team, join an open one, switch teams', async () => {
    const username = unique('signup');
    const page = await newPage(browser);
    await page.goto(`${CHORUS_URL}/login`, { waitUntil: 'networkidle0' });
    await page.click('#signup');
    await page.waitForSelector('#input_email');
    assert.equal(pathOf(page), '/signup_user_complete');

    // A bad email is refused with the server's message, and nothing is lost.
    await page.type('#input_email', 'not-an-email');
    await page.type('#input_name', username);
    await page.type('#input_password-input', PASSWORD);
    await page.click('#saveSetting');
    await waitInPage(page, 'the server refuses a bad email', () => !!document.querySelector('#signup_error'));
    assert.equal(await page.$eval('#input_name', (el) => el.value), username);

    await page.click('#input_email', { count: 3 });
    await page.type('#input_email', `${username}@example.com`);
    await shot(page, 'signup.png');
    await page.click('#saveSetting');
    // (Creating an account and logging in hash the password twice: seconds on a busy debug build.)
    await waitInPage(page, 'a person without a team lands on /select_team', () => window.location.pathname === '/select_team' && !!document.querySelector('#noTeams'), undefined, 45000);
    await waitInPage(page, 'the joinable teams are listed', () => !!document.querySelector('#noJoinableTeams, #teamsYouCanJoinContent'), undefined, 15000);
    await shot(page, 'select-team.png');

    // Create a team through the page.
    const display = `Team ${tag()}`;
    await page.type('#teamNameInput', display);
    const name = await page.$eval('#teamURLInput', (el) => el.value);
    assert.match(name, /^team-[0-9a-f]{6}$/);
    await page.click('#createTeamButton');
    await page.waitForSelector('#post_textbox', { timeout: 20000 });
    assert.equal(pathOf(page), `/${name}/channels/town-square`);
    assert.equal(await page.$eval('#sidebarTeamName', (el) => el.textContent), display);

    // Someone else's open team is listed under "+" and can be joined.
    const owner = await signUp('owner');
    const { data: open } = await api('POST', '/teams', { name: unique('open'), display_name: `Open ${tag()}`, type: 'O', allow_open_invite: true }, owner.token);
    await page.click('#select_teamTeamButton');
    await waitInPage(page, 'the joinable teams are listed', () => !!document.querySelector('#teamsYouCanJoinContent'), undefined, 15000);
    if (await page.$('#teamSearch')) {
        await page.type('#teamSearch', open.display_name);
    }
    await page.waitForSelector(`#joinTeam_${open.name}`, { timeout: 10000 });
    await page.click(`#joinTeam_${open.name}`);
    await waitInPage(page, 'joining opens the team', (n) => window.location.pathname === `/${n}/channels/town-square`, open.name);
    await waitInPage(page, 'the joined team is in the sidebar', (n) => document.querySelector('#SidebarContainer #sidebarTeamName')?.textContent === n, open.display_name);

    // Both teams are in the team sidebar; switching goes back to the first.
    await waitInPage(page, 'two teams in the team sidebar', () => document.querySelectorAll('[data-testid="team-button"]').length === 2);
    await page.click(`#${name}TeamButton`);
    await waitInPage(page, 'switching teams', (n) => window.location.pathname === `/${n}/channels/town-square`
        && document.querySelector('#sidebarTeamName')?.textContent.startsWith('Team '), name);
    assert.ok(await page.$eval(`#${name}TeamButton`, (el) => el.classList.contains('active')));
    await page.close();
});

test("unread and mentions: bob's posts make alice's channel bold live, a mention raises the badge, opening clears both", async () => {
    const alice = await signUp('alice');
    const bob = await signUp('bob');
    const team = await teamWith(bob, alice);
    const other = await teamWith(bob, alice);
    const planning = await channelWith(bob, team, { display: 'Planning' }, alice);
    const quiet = await channelWith(bob, team, { display: 'Random talk' }, alice);
    const secret = await channelWith(bob, team, { type: 'P', display: 'Leads' }, alice);
    const { data: square } = await api('GET', `/teams/${team.id}/channels/name/town-square`, undefined, bob.token);
    for (const text of ['Morning all! Standup notes are in the doc.', 'Release train leaves at 3pm today.']) {
        await apiPost(bob, square.id, text);
    }

    const page = await logInThroughThePage(browser, alice.username);
    await page.goto(`${CHORUS_URL}/${team.name}/channels/town-square`, { waitUntil: 'networkidle0' });
    await page.waitForSelector(`#sidebarItem_${planning.name}`);
    assert.deepEqual(await sidebarState(page, planning.name), { unread: false, bold: false, mentions: 0 });
    assert.ok(await page.$(`#sidebarItem_${secret.name}`), 'the private channel is listed');

    // Being added to a channel, or removed, shows in the sidebar live.
    const added = await channelWith(bob, team, { type: 'P', display: 'Surprise' }, alice);
    await page.waitForSelector(`#sidebarItem_${added.name}`, { timeout: 10000 });
    await api('DELETE', `/channels/${added.id}/members/${alice.user.id}`, undefined, bob.token);
    await page.waitForSelector(`#sidebarItem_${added.name}`, { hidden: true, timeout: 10000 });

    await apiPost(bob, planning.id, 'the roadmap is up');
    await waitForSidebar(page, 'the channel turns bold with no reload', planning.name, { unread: true, mentions: 0 });
    assert.equal((await sidebarState(page, planning.name)).bold, true);
    assert.equal((await sidebarState(page, quiet.name)).unread, false, 'the other channel stays read');

    await apiPost(bob, planning.id, `@${alice.username} can you review it?`);
    await waitForSidebar(page, 'a mention raises the badge', planning.name, { unread: true, mentions: 1 });
    await apiPost(bob, planning.id, `@${alice.username} ping`);
    await waitForSidebar(page, 'a second mention', planning.name, { unread: true, mentions: 2 });
    await waitInPage(page, 'the tab title counts the mentions', () => document.title.startsWith('(2) Town Square - '));

    // A post in another of alice's teams marks that team in the team sidebar.
    const elsewhere = await api('GET', `/teams/${other.id}/channels/name/town-square`, undefined, bob.token);
    await apiPost(bob, elsewhere.data.id, `@${alice.username} over here`);
    await waitInPage(page, 'the other team is marked unread', (n) => {
        const button = document.getElementById(`${n}TeamButton`);
        return button?.classList.contains('unread') && button.parentElement.querySelector('.team-badge')?.textContent === '1';
    }, other.name);
    // A direct message bob starts appears live, unread, counted as a mention.
    const { data: dm } = await api('POST', '/channels/direct', [bob.user.id, alice.user.id], bob.token);
    await apiPost(bob, dm.id, 'lunch later?');
    await waitForSidebar(page, "bob's new DM appears live with a badge", dm.name, { unread: true, mentions: 1 });
    assert.equal(await page.$eval(`#sidebarItem_${dm.name} .sidebar-name`, (el) => el.textContent), bob.username);
    await shot(page, 'sidebar.png');

    // "Mark as read" from the item's menu clears it without opening it.
    await page.hover(`#sidebarItem_${dm.name}`);
    await page.click(`#channelMenu_${dm.name}`);
    await page.click(`#markRead_${dm.name}`);
    await waitForSidebar(page, 'mark as read clears the DM', dm.name, { unread: false, mentions: 0 });

    // Alt+Shift+↓ goes to the next unread channel: Planning (the DM was marked read).
    await page.keyboard.down('Alt');
    await page.keyboard.down('Shift');
    await page.keyboard.press('ArrowDown');
    await page.keyboard.up('Shift');
    await page.keyboard.up('Alt');
    await waitInPage(page, 'Alt+Shift+Down opens the next unread channel', (n) => window.location.pathname.endsWith(`/channels/${n}`), planning.name);
    await postShown(page, 'can you review it?');
    await waitForSidebar(page, 'opening the channel clears bold and badge', planning.name, { unread: false, mentions: 0 });

    // Read on the server too: after a reload, from another channel, it stays read.
    await page.goto(`${CHORUS_URL}/${team.name}/channels/town-square`, { waitUntil: 'networkidle0' });
    await page.waitForSelector(`#sidebarItem_${planning.name}`);
    await waitInPage(page, 'the sidebar has loaded', (n) => !!document.getElementById(`sidebarItem_${n}`), quiet.name);
    assert.deepEqual(await sidebarState(page, planning.name), { unread: false, bold: false, mentions: 0 });
    assert.deepEqual(await sidebarState(page, dm.name), { unread: false, bold: false, mentions: 0 }, 'marked read on the server');
    await page.close();
});

test('a DM: alice finds bob by searching, writes; bob sees the DM appear live, unread, and reads it', async () => {
    const alice = await signUp('alice');
    const bob = await signUp('bob');
    const team = await teamWith(alice, bob);
    const bobPage = await logInThroughThePage(browser, bob.username);
    const alicePage = await logInThroughThePage(browser, alice.username);
    await alicePage.goto(`${CHORUS_URL}/${team.name}/channels/town-square`, { waitUntil: 'networkidle0' });
    await bobPage.goto(`${CHORUS_URL}/${team.name}/channels/town-square`, { waitUntil: 'networkidle0' });
    await bobPage.waitForSelector('#post_textbox');

    await alicePage.click('#newDirectMessageButton');
    await alicePage.waitForSelector('#selectItems');
    await alicePage.type('#selectItems', bob.username.slice(0, 9));
    await alicePage.waitForSelector(`#displayedUserName${bob.username}`, { timeout: 10000 });
    await alicePage.click(`#displayedUserName${bob.username}`);
    await alicePage.click('#saveItems');
    await waitInPage(alicePage, 'the DM opens at /{team}/messages/@bob', (path) => window.location.pathname === path,
        `/${team.name}/messages/@${bob.username}`);
    await waitInPage(alicePage, 'the header names bob', (n) => document.querySelector('#channelHeaderTitle')?.textContent === n, bob.username);

    const dmName = [alice.user.id, bob.user.id].sort().join('__');
    await alicePage.waitForSelector(`#sidebarItem_${dmName}`);
    const message = `psst ${tag()}`;
    await post(alicePage, message);
    await postShown(alicePage, message);

    await waitForSidebar(bobPage, "the DM appears in bob's sidebar live, unread, with a badge", dmName, { unread: true, mentions: 1 });
    assert.equal(await bobPage.$eval(`#sidebarItem_${dmName} .sidebar-name`, (el) => el.textContent), alice.username);
    assert.ok(await bobPage.$(`#sidebarItem_${dmName} .presence-dot`), 'a status dot');
    assert.ok(await bobPage.$(`#SidebarContainer [data-category="direct_messages"] #sidebarItem_${dmName}`), 'under Direct Messages');
    await bobPage.click(`#sidebarItem_${dmName}`);
    await postShown(bobPage, message);
    assert.equal(pathOf(bobPage), `/${team.name}/messages/@${alice.username}`);
    await waitForSidebar(bobPage, 'reading the DM clears it', dmName, { unread: false, mentions: 0 });
    await post(bobPage, 'hi alice!');
    await postShown(alicePage, 'hi alice!');
    await shot(alicePage, 'direct-message.png');

    // The DM's URL works on its own (a reload, a shared link).
    await alicePage.reload({ waitUntil: 'networkidle0' });
    await waitInPage(alicePage, 'the DM reopens by its URL', (n) => document.querySelector('#channelHeaderTitle')?.textContent === n, bob.username);
    await postShown(alicePage, message);

    // A group message with two others.
    const carol = await signUp('carol');
    await api('POST', `/teams/${team.id}/members`, { team_id: team.id, user_id: carol.user.id }, alice.token);
    await alicePage.click('#newDirectMessageButton');
    for (const person of [bob, carol]) {
        await alicePage.type('#selectItems', person.username);
        await alicePage.waitForSelector(`#displayedUserName${person.username}`);
        await alicePage.click(`#displayedUserName${person.username}`);
    }
    await alicePage.click('#saveItems');
    await waitInPage(alicePage, 'the group message opens', (t) => window.location.pathname.startsWith(`/${t}/messages/`) && !window.location.pathname.includes('@'), team.name);
    await post(alicePage, 'group hello');
    await postShown(alicePage, 'group hello');
    await waitInPage(bobPage, 'bob sees the group message in his sidebar', (names) => [...document.querySelectorAll('#SidebarContainer .sidebar-name')]
        .some((el) => names.every((n) => el.textContent.includes(n))), [alice.username, carol.username]);
    await alicePage.close();
    await bobPage.close();
});

test('browse and join a public channel; create a private channel', async () => {
    const alice = await signUp('alice');
    const bob = await signUp('bob');
    const team = await teamWith(bob, alice);
    const lobby = await channelWith(bob, team, { display: `Lobby ${tag()}` });
    const page = await logInThroughThePage(browser, alice.username);
    await page.goto(`${CHORUS_URL}/${team.name}/channels/town-square`, { waitUntil: 'networkidle0' });
    assert.equal(await page.$(`#sidebarItem_${lobby.name}`), null, 'not a member yet');

    await page.click('#addChannelsCta');
    await page.click('#browseChannelsMenuItem');
    await page.waitForSelector(`#ChannelRow-${lobby.name}`, { timeout: 10000 });
    await page.type('#searchChannelsTextbox', lobby.display_name.slice(0, 8));
    await page.click(`#ChannelRow-${lobby.name} button`);
    await waitInPage(page, 'joining opens the channel', (n) => window.location.pathname.endsWith(`/channels/${n}`)
        && document.querySelector('#channelHeaderTitle')?.textContent.startsWith('Lobby'), lobby.name);
    await page.waitForSelector(`#sidebarItem_${lobby.name}.active`);
    const members = await api('GET', `/channels/${lobby.id}/members/${alice.user.id}`, undefined, bob.token);
    assert.equal(members.data.user_id, alice.user.id, 'alice is a member on the server');

    // A private channel, named after its display name.
    const display = `Secret Plans ${tag()}`;
    await page.click('#addChannelsCta');
    await page.click('#createNewChannelMenuItem');
    await page.waitForSelector('#newChannelName');
    await page.type('#newChannelName', display);
    await page.click('label:has(#public-private-selector-button-P)');
    await page.click('#newChannelSubmit');
    const name = display.toLowerCase().replace(/ /g, '-');
    await waitInPage(page, 'the new channel opens', (n) => window.location.pathname.endsWith(`/channels/${n}`), name);
    await page.waitForSelector(`#sidebarItem_${name}`);
    assert.ok(await page.$(`#sidebarItem_${name} .sidebar-icon.private`), 'shown with a lock');
    const { data: created } = await api('GET', `/teams/${team.id}/channels/name/${name}`, undefined, alice.token);
    assert.equal(created.type, 'P');

    // Favorite it: it moves to Favorites, on the server too (after a reload), and back.
    await page.hover(`#sidebarItem_${name}`);
    const saved = page.waitForResponse((r) => r.request().method() === 'PUT' && r.url().includes('/channels/categories'), { timeout: 15000 });
    await page.click(`#favorite_${name}`);
    await page.waitForSelector(`[data-category="favorites"] #sidebarItem_${name}`);
    assert.equal((await saved).status(), 200);
    await page.reload({ waitUntil: 'networkidle0' });
    await page.waitForSelector(`[data-category="favorites"] #sidebarItem_${name}`, { timeout: 15000 });
    await page.hover(`#sidebarItem_${name}`);
    await page.click(`#favorite_${name}`);
    await page.waitForSelector(`[data-category="channels"] #sidebarItem_${name}`);
    assert.equal(await page.$('[data-category="favorites"]'), null, 'an empty Favorites is hidden');

    // A second channel with the same name is refused with the server's message.
    await page.click('#addChannelsCta');
    await page.click('#createNewChannelMenuItem');
    await page.type('#newChannelName', display);
    await page.click('#newChannelSubmit');
    await waitInPage(page, 'the server says the name is taken', () => (document.querySelector('#newChannelError')?.textContent ?? '').length > 5);
    await page.keyboard.press('Escape');

    // Ctrl+K finds a channel by part of its name; Enter opens it.
    await page.waitForSelector('#newChannelModal', { hidden: true });
    await page.keyboard.down('Control');
    await page.keyboard.press('k');
    await page.keyboard.up('Control');
    await page.waitForSelector('#quickSwitchInput');
    await page.type('#quickSwitchInput', lobby.display_name.slice(0, 9));
    await page.waitForSelector(`#switchChannel_${lobby.name}`);
    await page.keyboard.press('Enter');
    await waitInPage(page, 'the switcher opens the channel', (n) => window.location.pathname.endsWith(`/channels/${n}`), lobby.name);

    // Leave it from its sidebar menu: it goes from the sidebar, the page goes to town-square,
    // and the server no longer counts alice in.
    await page.hover(`#sidebarItem_${lobby.name}`);
    await page.click(`#channelMenu_${lobby.name}`);
    await page.click(`#leave_${lobby.name}`);
    await waitInPage(page, 'leaving drops the channel', (n) => !document.getElementById(`sidebarItem_${n}`)
        && window.location.pathname.endsWith('/channels/town-square'), lobby.name);
    await assert.rejects(api('GET', `/channels/${lobby.id}/members/${alice.user.id}`, undefined, bob.token), /404/);
    await page.close();
});

test('search finds a post by a term and by a "phrase"; a result jumps to the post; permalinks too', async () => {
    const alice = await signUp('alice');
    const bob = await signUp('bob');
    const team = await teamWith(bob, alice);
    const ops = await channelWith(bob, team, { display: 'Operations' }, alice);
    const word = `quartz${tag()}`;
    const first = await apiPost(bob, ops.id, `the ${word} deploy finished with release notes`);
    const second = await apiPost(bob, ops.id, `${word} has exact words here`);
    for (let i = 0; i < 30; i++) {
        await apiPost(bob, ops.id, `filler ${i}`);
    }
    const page = await logInThroughThePage(browser, alice.username);
    await page.goto(`${CHORUS_URL}/${team.name}/channels/town-square`, { waitUntil: 'networkidle0' });

    await page.type('#searchBox', word);
    await page.keyboard.press('Enter');
    await waitInPage(page, 'both posts are found by the term', (ids) => ids.every((id) => document.getElementById(`searchResult_${id}`)), [first.id, second.id]);
    assert.equal(await page.$eval(`#searchResult_${first.id} mark`, (el) => el.textContent), word, 'the term is highlighted');
    assert.match(await page.$eval(`#searchResult_${first.id}`, (el) => el.textContent), /Operations/);

    await page.click('#searchBox', { count: 3 });
    await page.type('#searchBox', `"exact words" ${word}`);
    await page.keyboard.press('Enter');
    await waitInPage(page, 'the phrase finds only its post', ([hit, miss]) => document.getElementById(`searchResult_${hit}`)
        && !document.getElementById(`searchResult_${miss}`), [second.id, first.id]);
    await shot(page, 'search.png');

    // from: and in: narrow the search (the server parses them).
    const search = async (query) => {
        await page.click('#searchBox', { count: 3 });
        await page.type('#searchBox', query);
        await page.keyboard.press('Enter');
        await waitInPage(page, `the search for ${query} finishes`, (q) => document.querySelector('#searchContainer .search-terms')?.textContent.includes(q)
            && !document.querySelector('#searchContainer .empty.muted'), query);
    };
    await search(`from:${bob.username} ${word}`);
    await waitInPage(page, 'from:bob finds both', (ids) => ids.every((id) => document.getElementById(`searchResult_${id}`)), [first.id, second.id]);
    await search(`from:${alice.username} ${word}`);
    await page.waitForSelector('#noResults');
    await search(`in:${ops.name} ${word}`);
    await waitInPage(page, 'in:the channel finds both', (ids) => ids.every((id) => document.getElementById(`searchResult_${id}`)), [first.id, second.id]);
    await search(`in:town-square ${word}`);
    await page.waitForSelector('#noResults');
    await search(`"exact words" ${word}`);

    await page.click(`#searchResult_${second.id}`);
    await waitInPage(page, 'the result opens its channel', (n) => window.location.pathname.endsWith(`/channels/${n}`), ops.name);
    await page.waitForSelector(`#post_${second.id}`, { timeout: 10000 });

    // A search that finds nothing says so.
    await page.click('#searchBox', { count: 3 });
    await page.type('#searchBox', `nothing${tag()}matches`);
    await page.keyboard.press('Enter');
    await page.waitForSelector('#noResults');

    // A permalink opens the post's channel.
    await page.goto(`${CHORUS_URL}/${team.name}/pl/${first.id}`, { waitUntil: 'networkidle0' });
    await waitInPage(page, 'the permalink opens the channel', (n) => window.location.pathname.endsWith(`/channels/${n}`), ops.name);
    await page.waitForSelector(`#post_${first.id}`, { timeout: 10000 });
    await page.close();
});

test('log out returns to /login; a session an admin revokes sends the page to /login', async () => {
    const alice = await signUp('alice');
    await teamWith(alice);
    const page = await logInThroughThePage(browser, alice.username);

    // The account menu sets my status.
    await page.click('#userAccountMenuButton');
    await page.waitForSelector('#userAccountMenu');
    await page.click('#status_dnd');
    await page.waitForSelector('#userAccountMenuButton .presence-dot.dnd');
    const { data: [status] } = await api('POST', '/users/status/ids', [alice.user.id], alice.token);
    assert.equal(status.status, 'dnd');

    await page.click('#userAccountMenuButton');
    await page.click('#logout');
    await waitInPage(page, 'log out shows /login', () => window.location.pathname === '/login' && !!document.querySelector('#input_loginId'));
    await page.goto(`${CHORUS_URL}/`, { waitUntil: 'networkidle0' });
    assert.equal(pathOf(page), '/login', 'the session is over on the server too');

    await page.type('#input_loginId', alice.username);
    await page.type('#input_password-input', PASSWORD);
    await page.click('#saveSetting');
    await page.waitForSelector('#post_textbox', { timeout: 15000 });
    const admin = await logInAdmin();
    await api('POST', `/users/${alice.user.id}/sessions/revoke/all`, undefined, admin.token);
    await waitInPage(page, 'the revoked session goes to /login without a click', () => window.location.pathname === '/login'
        && !!document.querySelector('#input_loginId'), undefined, 15000);
    await page.close();
});
