// System Console > User Management > Teams and Channels: every team with its member count, every
// channel with its team; archive and restore, a channel's privacy.

import { useEffect, useState } from 'preact/hooks';
import { client } from '../api';
import { consoleError } from './common';
import type { Channel, Team } from '../state';

const PER_PAGE = 50;

type Notice = { ok: boolean; text: string } | null;

function Pager({ page, setPage, full }: { page: number; setPage: (page: number) => void; full: boolean }) {
    return (
        <div class="console-pager">
            <button type="button" class="btn btn-secondary" disabled={page === 0} onClick={() => setPage(page - 1)}>Previous</button>
            <span class="muted">Page {page + 1}</span>
            <button type="button" class="btn btn-secondary" disabled={!full} onClick={() => setPage(page + 1)}>Next</button>
        </div>
    );
}

type AdminTeam = Team & { delete_at?: number; allow_open_invite?: boolean; email?: string };

export function Teams() {
    const [page, setPage] = useState(0);
    const [term, setTerm] = useState('');
    const [search, setSearch] = useState('');
    const [list, setList] = useState<AdminTeam[] | null>(null);
    const [members, setMembers] = useState<Record<string, number>>({});
    const [error, setError] = useState('');
    const [notice, setNotice] = useState<Notice>(null);

    const load = async () => {
        try {
            // Archived teams too (include_deleted: Client4's getTeams has no such option).
            const teams = (search
                ? await client.searchTeams(search, { include_deleted: true })
                : await client.doFetch(`${client.getTeamsRoute()}?page=${page}&per_page=${PER_PAGE}&include_deleted=true`, { method: 'get' })) as AdminTeam[];
            setList(teams);
            setError('');
            const counts = await Promise.all(teams.map((team) => client.getTeamStats(team.id)
                .then((stats: { active_member_count?: number; total_member_count?: number }) => [team.id, stats.active_member_count ?? stats.total_member_count ?? 0] as const)
                .catch(() => [team.id, -1] as const)));
            setMembers(Object.fromEntries(counts));
        } catch (err) {
            setError(consoleError(err));
        }
    };
    useEffect(() => {
        load();
    }, [page, search]);

    // The answer of an action replaces the row at once (archiving answers no team: the row is
    // marked archived, with Restore); the next load lists it the same way.
    const act = async (done: string, action: () => Promise<AdminTeam | null>, team: AdminTeam) => {
        setNotice(null);
        try {
            const updated = (await action()) ?? { ...team, delete_at: Date.now() };
            setList((current) => current?.map((one) => (one.id === team.id ? { ...one, ...updated } : one)) ?? null);
            setNotice({ ok: true, text: done });
        } catch (err) {
            setNotice({ ok: false, text: consoleError(err) });
        }
    };

    return (
        <div>
            <div class="console-page-header"><h1>Teams</h1></div>
            <form class="console-toolbar" onSubmit={(e) => { e.preventDefault(); setPage(0); setSearch(term.trim()); }}>
                <input type="search" id="searchTeams" class="console-input" placeholder="Search teams by name"
                    value={term} onInput={(e) => setTerm((e.target as HTMLInputElement).value)} />
                <button type="submit" class="btn btn-secondary">Search</button>
                {search && <button type="button" class="btn btn-link" onClick={() => { setTerm(''); setSearch(''); }}>Clear</button>}
            </form>
            {notice && <div class={notice.ok ? 'console-notice ok' : 'error'} role="status">{notice.text}</div>}
            {error && <div class="error">{error}</div>}
            {!list && !error && <div class="muted">Loading…</div>}
            {list && (
                <table class="console-table" data-testid="teams-table">
                    <thead><tr><th>Team</th><th>Name (URL)</th><th>Members</th><th>Membership</th><th>Status</th><th>Actions</th></tr></thead>
                    <tbody>
                        {list.length === 0 && <tr><td colSpan={6} class="muted">No teams yet.</td></tr>}
                        {list.map((team) => {
                            const archived = Boolean(team.delete_at);
                            return (
                                <tr key={team.id} data-testid="team-row" data-name={team.name} data-archived={String(archived)}>
                                    <td class="strong">{team.display_name}</td>
                                    <td class="mono small">/{team.name}</td>
                                    <td>{members[team.id] === undefined ? '…' : members[team.id] < 0 ? '—' : members[team.id]}</td>
                                    <td>{team.type === 'I' ? 'Invite only' : 'Anyone can join'}</td>
                                    <td>{archived ? <span class="badge bad">Archived</span> : <span class="badge ok">Active</span>}</td>
                                    <td>
                                        {archived ? (
                                            <button type="button" class="btn btn-small btn-secondary" data-action="restore"
                                                onClick={() => act(`Restored ${team.display_name}.`, () => client.unarchiveTeam(team.id), team)}>Restore</button>
                                        ) : (
                                            <button type="button" class="btn btn-small btn-danger" data-action="archive"
                                                onClick={() => window.confirm(`Archive the team ${team.display_name}? Its members lose access until it is restored.`)
                                                    && act(`Archived ${team.display_name}: its members cannot use it until it is restored.`, () => client.deleteTeam(team.id).then(() => null), team)}>Archive</button>
                                        )}
                                    </td>
                                </tr>
                            );
                        })}
                    </tbody>
                </table>
            )}
            {list && !search && <Pager page={page} setPage={setPage} full={list.length >= PER_PAGE} />}
        </div>
    );
}

type AdminChannel = Channel & { team_display_name?: string; team_name?: string };

export function Channels() {
    const [page, setPage] = useState(0);
    const [list, setList] = useState<AdminChannel[] | null>(null);
    const [error, setError] = useState('');
    const [notice, setNotice] = useState<Notice>(null);

    const load = async () => {
        try {
            const answer = await client.getAllChannels(page, PER_PAGE, '', false, false, true);
            setList((Array.isArray(answer) ? answer : answer.channels) as AdminChannel[]);
            setError('');
        } catch (err) {
            setError(consoleError(err));
        }
    };
    useEffect(() => {
        load();
    }, [page]);

    const act = async (done: string, action: () => Promise<unknown>) => {
        setNotice(null);
        try {
            await action();
            setNotice({ ok: true, text: done });
            await load();
        } catch (err) {
            setNotice({ ok: false, text: consoleError(err) });
        }
    };

    return (
        <div>
            <div class="console-page-header"><h1>Channels</h1></div>
            {notice && <div class={notice.ok ? 'console-notice ok' : 'error'} role="status">{notice.text}</div>}
            {error && <div class="error">{error}</div>}
            {!list && !error && <div class="muted">Loading…</div>}
            {list && (
                <table class="console-table" data-testid="channels-table">
                    <thead><tr><th>Channel</th><th>Team</th><th>Type</th><th>Status</th><th>Actions</th></tr></thead>
                    <tbody>
                        {list.length === 0 && <tr><td colSpan={5} class="muted">No channels yet.</td></tr>}
                        {list.map((channel) => {
                            const archived = Boolean(channel.delete_at);
                            const isPrivate = channel.type === 'P';
                            return (
                                <tr key={channel.id} data-testid="channel-row" data-name={channel.name} data-archived={String(archived)} data-type={channel.type}>
                                    <td>
                                        <div class="strong">{isPrivate ? '🔒 ' : '# '}{channel.display_name}</div>
                                        <div class="muted small mono">{channel.name}</div>
                                    </td>
                                    <td>{channel.team_display_name || channel.team_name || '—'}</td>
                                    <td>{isPrivate ? 'Private' : 'Public'}</td>
                                    <td>{archived ? <span class="badge bad">Archived</span> : <span class="badge ok">Active</span>}</td>
                                    <td>
                                        <div class="row-actions">
                                            {archived ? (
                                                <button type="button" class="btn btn-small btn-secondary" data-action="restore"
                                                    onClick={() => act(`Restored ~${channel.name}.`, () => client.unarchiveChannel(channel.id))}>Restore</button>
                                            ) : (
                                                <button type="button" class="btn btn-small btn-danger" data-action="archive"
                                                    onClick={() => window.confirm(`Archive ~${channel.name}? Nobody can post in it until it is restored.`)
                                                        && act(`Archived ~${channel.name}.`, () => client.deleteChannel(channel.id))}>Archive</button>
                                            )}
                                            {!archived && (
                                                <button type="button" class="btn btn-small btn-secondary" data-action={isPrivate ? 'make-public' : 'make-private'}
                                                    onClick={() => act(`~${channel.name} is now ${isPrivate ? 'public' : 'private'}.`,
                                                        () => client.updateChannelPrivacy(channel.id, isPrivate ? 'O' : 'P'))}>
                                                    {isPrivate ? 'Make Public' : 'Make Private'}
                                                </button>
                                            )}
                                        </div>
                                    </td>
                                </tr>
                            );
                        })}
                    </tbody>
                </table>
            )}
            {list && <Pager page={page} setPage={setPage} full={list.length >= PER_PAGE} />}
        </div>
    );
}
