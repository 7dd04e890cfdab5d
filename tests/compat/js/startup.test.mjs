// The official apps' start-up, call for call, with @mattermost/client parsing every answer:
// - the Mattermost mobile app's "entry" (mattermost-mobile app/actions/remote/entry/common.ts:
//   login, fetchAppEntryData, fetchRoles, then restDeferredAppEntryActions), and
// - the web app's loadMe (mattermost-redux actions/users.ts) followed by what the channel view
//   loads for the first channel.
// The mobile app stops its start-up at the first failed request of fetchAppEntryData; the web
// app shows an error page when loadMe fails. So every request here must succeed.
//
// Rust runs this file through NGINX in front of a three-node cluster
// (compat::the_official_apps_start_up_through_nginx_on_a_cluster), so consecutive calls land on
// different nodes and must agree. It also runs against a single server:
//
//   CHORUS_URL=http://127.0.0.1:8065 node --test startup.test.mjs

import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import {
    ID_RE, rnd, newClient, pendingId, signup, connectWebSocket, expectServer,
} from './helpers.mjs';

before(expectServer);

// What every start-up below asked, in order, with its status and time; printed when a test fails.
function recording(client) {
    const calls = [];
    const inner = client.doFetchWithResponse;
    client.doFetchWithResponse = async (url, options) => {
        const started = performance.now();
        const call = { method: (options.method || 'get').toUpperCase(), path: new URL(url).pathname + new URL(url).search };
        calls.push(call);
        try {
            const result = await inner(url, options);
            call.status = result.response.status;
            return result;
        } catch (err) {
            call.status = err.status_code || 'failed';
            throw err;
        } finally {
            call.ms = Math.round(performance.now() - started);
        }
    };
    client.calls = calls;
    client.describeCalls = () => calls.map((c) => `${c.method} ${c.path} -> ${c.status} (${c.ms} ms)`).join('\n');
    return client;
}

async function withCallLog(client, run) {
    try {
        await run();
    } catch (err) {
        err.message += `\nrequests so far:\n${client.describeCalls()}`;
        throw err;
    }
}

// A workspace as a person has it after some weeks: two teams, public, private and archived
// channels, a direct and a group message, unread posts with a mention, a favourite.
async function livedInWorkspace() {
    const [alice, bob, carol] = [await signup(), await signup(), await signup()];
    const team = await alice.client.createTeam({ name: rnd('t'), display_name: 'Start-up Team', type: 'O' });
    const otherTeam = await bob.client.createTeam({ name: rnd('t'), display_name: 'Other Team', type: 'O' });
    await alice.client.addToTeam(team.id, bob.user.id);
    await bob.client.addToTeam(otherTeam.id, alice.user.id);
    const channel = (name, type = 'O', teamId = team.id, client = alice.client) =>
        client.createChannel({ team_id: teamId, name: rnd(name), display_name: `${name} ${rnd('')}`, type });
    const general = await channel('general');
    const quiet = await channel('quiet');
    const secret = await channel('secret', 'P');
    const archived = await channel('archived');
    const elsewhere = await channel('elsewhere', 'O', otherTeam.id, bob.client);
    for (const c of [general, secret]) {
        await alice.client.addToChannel(bob.user.id, c.id);
    }
    await bob.client.addToChannel(alice.user.id, elsewhere.id);
    await alice.client.deleteChannel(archived.id);
    const dm = await alice.client.createDirectChannel([alice.user.id, bob.user.id]);
    const gm = await alice.client.createGroupChannel([alice.user.id, bob.user.id, carol.user.id]);

    await alice.client.createPost({ channel_id: quiet.id, message: 'read already', pending_post_id: pendingId(alice.user.id) });
    for (const [c, message] of [[general, 'morning all'], [general, `@${alice.username} can you look?`],
        [dm, 'psst'], [elsewhere, 'over here'], [secret, 'between us']]) {
        await bob.client.createPost({ channel_id: c.id, message, pending_post_id: pendingId(bob.user.id) });
    }
    await alice.client.savePreferences(alice.user.id, [
        { user_id: alice.user.id, category: 'favorite_channel', name: quiet.id, value: 'true' },
        { user_id: alice.user.id, category: 'display_settings', name: 'use_military_time', value: 'true' },
    ]);
    return { alice, bob, carol, team, otherTeam, general, quiet, secret, archived, elsewhere, dm, gm };
}

test('the mobile app starts: entry, roles, deferred loads and the websocket', async () => {
    const w = await livedInWorkspace();
    const app = recording(newClient());
    await withCallLog(app, async () => {
        // login as the app sends it (with a device id)
        const { data: me0, headers } = await app.doFetchWithResponse(`${app.getUsersRoute()}/login`, {
            method: 'post',
            body: JSON.stringify({ device_id: `android_rn-v2:${randomBytes(8).toString('hex')}`, login_id: w.alice.username, password: w.alice.password, token: '' }),
        });
        app.setToken(headers.get('Token'));
        assert.equal(me0.id, w.alice.user.id);

        // fetchConfigAndLicense, fetchMyPreferences
        const [config, license] = await Promise.all([app.getClientConfig(), app.getClientLicenseOld()]);
        assert.equal(typeof config.Version, 'string');
        assert.ok(['disabled', 'default_off', 'default_on', 'always_on'].includes(config.CollapsedThreads), `CollapsedThreads: ${config.CollapsedThreads}`);
        assert.equal(license.IsLicensed, 'false');
        const preferences = await app.getMyPreferences();
        assert.ok(preferences.some((p) => p.category === 'favorite_channel' && p.name === w.quiet.id));

        // fetchMyTeams, fetchMyChannelsForTeam(initial team, include deleted, since 0), fetchMe
        const teamId = w.team.id;
        const [teams, teamMembers, channels, channelMembers, categories, me] = await Promise.all([
            app.getMyTeams(),
            app.getMyTeamMembers(),
            app.doFetch(`${app.getUserRoute('me')}/teams/${teamId}/channels?include_deleted=true&last_delete_at=0`, { method: 'get' }),
            app.getMyChannelMembers(teamId),
            app.getChannelCategories('me', teamId),
            app.getMe(),
        ]);
        assert.deepEqual(teams.map((t) => t.id).sort(), [w.team.id, w.otherTeam.id].sort());
        assert.deepEqual(teamMembers.map((m) => m.team_id).sort(), [w.team.id, w.otherTeam.id].sort());
        assert.ok(teamMembers.every((m) => m.delete_at === 0 && m.user_id === me.id));
        const channelIds = new Set(channels.map((c) => c.id));
        for (const c of [w.general, w.quiet, w.secret, w.archived, w.dm, w.gm]) {
            assert.ok(channelIds.has(c.id), `entry's channels lack ${c.name}: ${[...channelIds]}`);
        }
        assert.ok(!channelIds.has(w.elsewhere.id), 'another team\'s channel is not in this team\'s list');
        assert.ok(channels.find((c) => c.id === w.archived.id).delete_at > 0, 'the archived channel comes with its delete_at');
        const memberByChannel = new Map(channelMembers.map((m) => [m.channel_id, m]));
        for (const id of channelIds) {
            assert.ok(memberByChannel.has(id), `no membership for channel ${id} of the list`);
        }
        assert.equal(memberByChannel.get(w.general.id).mention_count, 1, 'the mention in general is counted');
        const byType = Object.fromEntries(categories.categories.map((c) => [c.type, c]));
        assert.deepEqual(byType.favorites.channel_ids, [w.quiet.id]);
        assert.ok(byType.direct_messages.channel_ids.includes(w.dm.id) && byType.direct_messages.channel_ids.includes(w.gm.id));
        assert.ok(byType.channels.channel_ids.includes(w.general.id) && byType.channels.channel_ids.includes(w.secret.id));
        assert.equal(me.id, w.alice.user.id);

        // fetchRoles: the roles of the user, its team and channel memberships
        const roleNames = new Set(me.roles.split(' '));
        for (const m of [...teamMembers, ...channelMembers]) {
            m.roles.split(' ').filter(Boolean).forEach((r) => roleNames.add(r));
        }
        const roles = await app.getRolesByNames([...roleNames]);
        assert.deepEqual(roles.map((r) => r.name).sort(), [...roleNames].sort());
        assert.ok(roles.every((r) => ID_RE.test(r.id) && Array.isArray(r.permissions)));

        // deferred: posts of the unread channels of the initial team
        const unread = channels.filter((c) => c.total_msg_count > (memberByChannel.get(c.id)?.msg_count ?? 0));
        assert.deepEqual(unread.map((c) => c.id).sort(), [w.general.id, w.secret.id, w.dm.id].sort());
        for (const c of unread) {
            const posts = await app.getPosts(c.id, 0, 60);
            assert.ok(posts.order.length > 0 && posts.order.every((id) => posts.posts[id].channel_id === c.id));
        }
        // deferred: the other teams' channels and unread counts
        const [otherChannels, otherMembers, otherCategories, teamUnreads] = await Promise.all([
            app.doFetch(`${app.getUserRoute('me')}/teams/${w.otherTeam.id}/channels?include_deleted=true&last_delete_at=0`, { method: 'get' }),
            app.getMyChannelMembers(w.otherTeam.id),
            app.getChannelCategories('me', w.otherTeam.id),
            app.getMyTeamUnreads(false),
        ]);
        assert.ok(otherChannels.some((c) => c.id === w.elsewhere.id));
        assert.ok(otherMembers.some((m) => m.channel_id === w.elsewhere.id));
        assert.equal(otherCategories.categories.length, 3);
        const otherUnread = teamUnreads.find((u) => u.team_id === w.otherTeam.id);
        assert.ok(otherUnread && otherUnread.msg_count >= 1, `team unreads: ${JSON.stringify(teamUnreads)}`);
        // deferred: all teams, users changed since, DM/GM profiles and statuses
        const allTeams = await app.getTeams(0, 60);
        assert.ok(allTeams.some((t) => t.id === w.team.id));
        const since = Date.now() - 3600_000;
        const changed = await app.getProfilesByIds([w.bob.user.id, w.carol.user.id], { since });
        assert.deepEqual(changed.map((u) => u.id).sort(), [w.bob.user.id, w.carol.user.id].sort());
        const gmProfiles = await app.getProfilesInGroupChannels([w.gm.id]);
        // the app drops the current user from each list itself
        assert.deepEqual(gmProfiles[w.gm.id].map((u) => u.id).filter((id) => id !== w.alice.user.id).sort(), [w.bob.user.id, w.carol.user.id].sort());
        const statuses = await app.getStatusesByIds([w.bob.user.id, w.carol.user.id]);
        assert.equal(statuses.length, 2);

        // the websocket, after which a new post arrives live
        const ws = connectWebSocket(app.getToken());
        try {
            await ws.waitForEvent('hello');
            const post = await w.bob.client.createPost({ channel_id: w.dm.id, message: 'are you there?', pending_post_id: pendingId(w.bob.user.id) });
            await ws.waitForEvent('posted', (e) => JSON.parse(e.data.post).id === post.id);
        } finally {
            ws.close();
        }
    });
    console.log(`mobile start-up, ${app.calls.length} requests:\n${app.describeCalls()}`);
});

test('the web app starts: loadMe, then the first channel it opens', async () => {
    const w = await livedInWorkspace();
    const app = recording(newClient());
    await withCallLog(app, async () => {
        await app.login(w.alice.username, w.alice.password);

        // loadMe
        const [config, license, me, preferences, teams, teamMembers] = await Promise.all([
            app.getClientConfig(), app.getClientLicenseOld(), app.getMe(), app.getMyPreferences(),
            app.getMyTeams(), app.getMyTeamMembers(),
        ]);
        assert.equal(typeof config.SiteName, 'string');
        assert.equal(license.IsLicensed, 'false');
        assert.equal(me.id, w.alice.user.id);
        assert.ok(Array.isArray(preferences));
        assert.equal(teams.length, 2);
        assert.equal(teamMembers.length, 2);
        const unreads = await app.getMyTeamUnreads(config.CollapsedThreads !== 'disabled');
        assert.ok(Array.isArray(unreads));
        const { data: limits } = await app.getServerLimits();
        assert.equal(typeof limits.activeUserCount, 'number');
        assert.equal(typeof limits.maxUsersLimit, 'number');
        const roleNames = [...new Set([...me.roles.split(' '), ...teamMembers.flatMap((m) => m.roles.split(' '))].filter(Boolean))];
        assert.equal((await app.getRolesByNames(roleNames)).length, roleNames.length);

        // the team's channels, members and categories, then the channel in the URL
        const [channels, members, categories] = await Promise.all([
            app.getMyChannels(w.team.id, true), app.getMyChannelMembers(w.team.id), app.getChannelCategories(me.id, w.team.id),
        ]);
        assert.ok(channels.length >= 6 && members.length === channels.length && categories.categories.length === 3);
        const channel = await app.getChannelByNameAndTeamName(w.team.name, w.general.name, true);
        assert.equal(channel.id, w.general.id);
        const posts = await app.getPostsUnread(channel.id, me.id);
        assert.equal(posts.order.length, 2);
        assert.ok(posts.order.every((id) => posts.posts[id].channel_id === channel.id));
        const authors = [...new Set(posts.order.map((id) => posts.posts[id].user_id))];
        assert.deepEqual((await app.getProfilesByIds(authors)).map((u) => u.id), authors);
        assert.equal((await app.getStatusesByIds(authors)).length, authors.length);
        const stats = await app.getChannelStats(channel.id);
        assert.equal(stats.member_count, 2);
        await app.viewMyChannel(channel.id);
        const member = await app.getMyChannelMember(channel.id);
        assert.equal(member.msg_count, channel.total_msg_count);
        assert.equal(member.mention_count, 0);
    });
    console.log(`web start-up, ${app.calls.length} requests:\n${app.describeCalls()}`);
});
