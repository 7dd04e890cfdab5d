// The bar across the top of the chat screen: the product name, the search box (#searchBox:
// Enter searches the current team and shows the results in the right-hand pane), and my
// account menu (status, System Console for admins, Log out).

import { useEffect, useRef, useState } from 'preact/hooks';
import { client } from '../api';
import { logOut } from '../logic/session';
import { me, navigate, rightPane, statuses } from '../state';

export function HeaderBar() {
    const [terms, setTerms] = useState(rightPane.value?.kind === 'search' ? rightPane.value.terms : '');
    return (
        <header class="global-header">
            <span class="brand">Chorus</span>
            <form class="search-form" role="search" onSubmit={(e) => {
                e.preventDefault();
                const query = terms.trim();
                if (query) {
                    rightPane.value = { kind: 'search', terms: query };
                }
            }}>
                <span class="search-icon" aria-hidden="true">⌕</span>
                <input id="searchBox" type="search" autoComplete="off" placeholder='Search (words, "phrases", from:, in:)'
                    aria-label="Search messages" value={terms}
                    onInput={(e) => setTerms((e.target as HTMLInputElement).value)}
                    onKeyDown={(e) => {
                        if (e.key === 'Escape') {
                            setTerms('');
                            (e.target as HTMLInputElement).blur();
                        }
                    }} />
            </form>
            <UserMenu />
        </header>
    );
}

const STATUS_LABELS: Record<string, string> = { online: 'Online', away: 'Away', dnd: 'Do not disturb', offline: 'Offline' };

/// My avatar with a menu: set status, System Console (admins), Log out.
export function UserMenu() {
    const [open, setOpen] = useState(false);
    const box = useRef<HTMLDivElement>(null);
    useEffect(() => {
        if (!open) {
            return undefined;
        }
        const close = (event: MouseEvent) => {
            if (box.current && !box.current.contains(event.target as Node)) {
                setOpen(false);
            }
        };
        document.addEventListener('mousedown', close);
        return () => document.removeEventListener('mousedown', close);
    }, [open]);
    const user = me.value;
    if (!user) {
        return null;
    }
    const status = statuses.value.get(user.id) ?? 'online';
    const admin = user.roles.split(' ').includes('system_admin');
    const setStatus = (next: string) => {
        client.updateStatus({ user_id: user.id, status: next } as any).then(() => {
            const map = new Map(statuses.value);
            map.set(user.id, next);
            statuses.value = map;
        }).catch(() => {});
        setOpen(false);
    };
    return (
        <div class="user-menu" ref={box}>
            <button id="userAccountMenuButton" class="avatar-button" aria-label={`${user.username}'s account menu`}
                aria-expanded={open} onClick={() => setOpen(!open)}>
                <img class="avatar small" alt="" src={`/api/v4/users/${user.id}/image`} />
                <span class={`presence-dot ${status}`} />
            </button>
            {open && (
                <div class="menu" role="menu" id="userAccountMenu">
                    <div class="menu-title"><strong>@{user.username}</strong><span class="muted">{STATUS_LABELS[status] ?? status}</span></div>
                    {(['online', 'away', 'dnd', 'offline'] as const).map((s) => (
                        <button role="menuitem" key={s} id={`status_${s}`} onClick={() => setStatus(s)}><span class={`presence-dot inline ${s}`} /> {STATUS_LABELS[s]}</button>
                    ))}
                    <hr />
                    {admin && <button role="menuitem" id="systemConsoleLink" onClick={() => { setOpen(false); navigate('/admin_console'); }}>System Console</button>}
                    <button role="menuitem" id="logout" onClick={() => { setOpen(false); logOut(); }}>Log out</button>
                </div>
            )}
        </div>
    );
}
