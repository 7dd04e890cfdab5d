// System Console > User Management > Users: every account, paged and searchable, with the
// admin's actions on each (activate/deactivate, reset password, system admin role, sessions).

import { useEffect, useState } from 'preact/hooks';
import { client } from '../api';
import { consoleError } from './common';
import { me, type User } from '../state';

const PER_PAGE = 50;

const isAdmin = (user: User) => user.roles.split(' ').includes('system_admin');

/// Mattermost's filters of GET /users (and of the search), and the same test on each user, so
/// a page shows only what it says even from a server that ignores a filter.
const FILTERS: Record<string, { label: string; query: Record<string, unknown>; keep: (user: User) => boolean }> = {
    all: { label: 'All users', query: {}, keep: () => true },
    active: { label: 'Active', query: { active: true }, keep: (user) => !user.delete_at },
    inactive: { label: 'Deactivated', query: { inactive: true }, keep: (user) => Boolean(user.delete_at) },
    system_admin: { label: 'System Admins', query: { role: 'system_admin' }, keep: isAdmin },
};

export function Users() {
    const [page, setPage] = useState(0);
    const [term, setTerm] = useState('');
    const [search, setSearch] = useState('');
    const [filter, setFilter] = useState('all');
    const [list, setList] = useState<User[] | null>(null);
    const [full, setFull] = useState(false);
    const [error, setError] = useState('');
    const [notice, setNotice] = useState<{ ok: boolean; text: string } | null>(null);

    const load = async () => {
        try {
            const { query, keep } = FILTERS[filter];
            const users: User[] = search
                ? await client.searchUsers(search, { allow_inactive: filter !== 'active', limit: 100, ...query })
                : await client.getProfiles(page, PER_PAGE, query);
            setFull(users.length >= PER_PAGE);
            setList(users.filter(keep));
            setError('');
        } catch (err) {
            setError(consoleError(err));
        }
    };
    useEffect(() => {
        load();
    }, [page, search, filter]);

    const replace = (user: User) => setList((current) => current?.map((one) => (one.id === user.id ? user : one)) ?? null);
    const act = async (what: string, action: () => Promise<unknown>, user: User) => {
        // `what` reads with the username after it: "Deactivated" @bob.
        setNotice(null);
        try {
            await action();
            replace(await client.getUser(user.id));
            setNotice({ ok: true, text: `${what} @${user.username}.` });
            return true;
        } catch (err) {
            setNotice({ ok: false, text: `Could not do that for @${user.username}: ${consoleError(err)}` });
            return false;
        }
    };

    return (
        <div>
            <div class="console-page-header"><h1>Users</h1></div>
            <form class="console-toolbar" onSubmit={(e) => { e.preventDefault(); setPage(0); setSearch(term.trim()); }}>
                <input type="search" id="searchUsers" class="console-input" placeholder="Search users by name or email"
                    value={term} onInput={(e) => setTerm((e.target as HTMLInputElement).value)} />
                <button type="submit" class="btn btn-secondary">Search</button>
                <select class="console-input" id="userFilter" aria-label="Show" value={filter}
                    onChange={(e) => { setPage(0); setFilter((e.target as HTMLSelectElement).value); }}>
                    {Object.entries(FILTERS).map(([key, one]) => <option key={key} value={key}>{one.label}</option>)}
                </select>
                {search && <button type="button" class="btn btn-link" onClick={() => { setTerm(''); setSearch(''); }}>Clear</button>}
            </form>
            {notice && <div class={notice.ok ? 'console-notice ok' : 'error'} role="status" data-testid="users-notice">{notice.text}</div>}
            {error && <div class="error">{error}</div>}
            {!list && !error && <div class="muted">Loading…</div>}
            {list && (
                <table class="console-table" data-testid="users-table">
                    <thead><tr><th>User</th><th>Email</th><th>Role</th><th>Status</th><th>Actions</th></tr></thead>
                    <tbody>
                        {list.length === 0 && <tr><td colSpan={5} class="muted">No users found.</td></tr>}
                        {list.map((user) => <UserRow key={user.id} user={user} act={act} />)}
                    </tbody>
                </table>
            )}
            {list && !search && (
                <div class="console-pager">
                    <button type="button" class="btn btn-secondary" disabled={page === 0} onClick={() => setPage(page - 1)}>Previous</button>
                    <span class="muted">Page {page + 1}</span>
                    <button type="button" class="btn btn-secondary" disabled={!full} onClick={() => setPage(page + 1)}>Next</button>
                </div>
            )}
        </div>
    );
}

function UserRow({ user, act }: { user: User; act: (what: string, action: () => Promise<unknown>, user: User) => Promise<boolean> }) {
    const [resetting, setResetting] = useState(false);
    const [password, setPassword] = useState('');
    const active = !user.delete_at;
    const admin = isAdmin(user);
    const self = user.id === me.value?.id;
    const name = [user.first_name, user.last_name].filter(Boolean).join(' ');
    const roles = admin
        ? user.roles.split(' ').filter((role) => role !== 'system_admin').join(' ')
        : `${user.roles} system_admin`.trim();
    return (
        <tr data-testid="user-row" data-username={user.username} data-active={String(active)} data-admin={String(admin)}>
            <td>
                <div class="user-cell">
                    <img class="avatar small" src={`/api/v4/users/${user.id}/image?_=${user.last_picture_update ?? 0}`} alt="" />
                    <div>
                        <div class="strong">@{user.username}{self && <span class="muted"> (you)</span>}</div>
                        {name && <div class="muted small">{name}</div>}
                    </div>
                </div>
            </td>
            <td class="small">{user.email}</td>
            <td>{admin ? <span class="badge leader">System Admin</span> : <span class="badge">Member</span>}</td>
            <td>{active ? <span class="badge ok">Active</span> : <span class="badge bad">Deactivated</span>}</td>
            <td>
                <div class="row-actions">
                    {active ? (
                        <button type="button" class="btn btn-small btn-danger" data-action="deactivate" disabled={self}
                            title={self ? 'You cannot deactivate yourself here' : undefined}
                            onClick={() => window.confirm(`Deactivate @${user.username}? They are logged out and cannot log in.`)
                                && act('Deactivated', () => client.updateUserActive(user.id, false), user)}>Deactivate</button>
                    ) : (
                        <button type="button" class="btn btn-small btn-secondary" data-action="activate"
                            onClick={() => act('Activated', () => client.updateUserActive(user.id, true), user)}>Activate</button>
                    )}
                    <button type="button" class="btn btn-small btn-secondary" data-action={admin ? 'remove-admin' : 'make-admin'} disabled={self}
                        onClick={() => act(admin ? 'Removed the System Admin role from' : 'Gave the System Admin role to', () => client.updateUserRoles(user.id, roles), user)}>
                        {admin ? 'Remove System Admin' : 'Make System Admin'}
                    </button>
                    <button type="button" class="btn btn-small btn-secondary" data-action="reset-password" onClick={() => setResetting(!resetting)}>Reset Password</button>
                    <button type="button" class="btn btn-small btn-secondary" data-action="revoke-sessions"
                        onClick={() => act('Logged out every session of', () => client.revokeAllSessionsForUser(user.id), user)}>Revoke Sessions</button>
                </div>
                {resetting && (
                    <form class="reset-password" onSubmit={(e) => {
                        e.preventDefault();
                        act('Set a new password for', () => client.updateUserPassword(user.id, '', password), user)
                            .then((ok) => { if (ok) { setPassword(''); setResetting(false); } });
                    }}>
                        <input type="password" class="console-input" placeholder="New password" autoComplete="new-password"
                            data-testid="new-password" value={password} onInput={(e) => setPassword((e.target as HTMLInputElement).value)} />
                        <button type="submit" class="btn btn-small btn-primary" disabled={!password}>Reset</button>
                        <button type="button" class="btn btn-small btn-link" onClick={() => setResetting(false)}>Cancel</button>
                    </form>
                )}
            </td>
        </tr>
    );
}
