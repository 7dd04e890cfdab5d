// #SidebarContainer: the current team's channels in my categories (Favorites, Channels, Direct
// Messages, and any custom ones), each link #sidebarItem_{channel name}. Unread channels are
// bold, mentions show a count; both follow the websocket (Layout keeps the counts). Direct
// messages show the other person with a status dot, group messages their members. The "+"
// menu browses and creates channels; the Direct Messages "+" starts a conversation.

import { useEffect, useRef, useState } from 'preact/hooks';
import { client, errorMessage } from '../api';
import { channelName, directPartnerId, favoriteMove, isUnread, mentionCount, sidebarCategories, viewed } from '../logic/unreads';
import {
    categories, Channel, channels, currentChannelId, currentTeam, me, myMembers, navigate, statuses, users,
} from '../state';
import { BrowseChannels } from './BrowseChannels';
import { ChannelSwitcher } from './ChannelSwitcher';
import { NewChannel } from './NewChannel';
import { NewMessage } from './NewMessage';

type Props = { teamName: string; channelName: string };

/// Where a channel lives: /{team}/channels/{name}, DMs /{team}/messages/@{username}, groups
/// /{team}/messages/{name}.
export function channelPath(teamName: string, channel: Channel): string {
    if (channel.type === 'D') {
        const partner = me.value ? directPartnerId(channel, me.value.id) : null;
        const user = partner ? users.value.get(partner) : undefined;
        if (user) {
            return `/${teamName}/messages/@${user.username}`;
        }
    }
    if (channel.type === 'D' || channel.type === 'G') {
        return `/${teamName}/messages/${channel.name}`;
    }
    return `/${teamName}/channels/${channel.name}`;
}

export function shownName(channel: Channel): string {
    return channelName(channel, me.value?.id ?? '', users.value);
}

function ChannelIcon({ channel }: { channel: Channel }) {
    if (channel.type === 'D') {
        const partner = me.value ? directPartnerId(channel, me.value.id) : null;
        const status = (partner && statuses.value.get(partner)) || 'offline';
        return (
            <span class="sidebar-icon dm" title={status}>
                {partner && <img class="avatar tiny" alt="" src={`/api/v4/users/${partner}/image`} />}
                <span class={`presence-dot ${status}`} data-status={status} />
            </span>
        );
    }
    if (channel.type === 'G') {
        const count = Math.max(2, shownName(channel).split(',').length);
        return <span class="sidebar-icon gm">{count}</span>;
    }
    return channel.type === 'P'
        ? <span class="sidebar-icon private" title="Private channel"><LockIcon /></span>
        : <span class="sidebar-icon public">#</span>;
}

export function LockIcon() {
    return (
        <svg width="12" height="13" viewBox="0 0 12 13" aria-hidden="true">
            <path fill="currentColor" d="M6 0a3.5 3.5 0 0 0-3.5 3.5V5H2a1 1 0 0 0-1 1v6a1 1 0 0 0 1 1h8a1 1 0 0 0 1-1V6a1 1 0 0 0-1-1h-.5V3.5A3.5 3.5 0 0 0 6 0Zm0 1.5a2 2 0 0 1 2 2V5H4V3.5a2 2 0 0 1 2-2Z" />
        </svg>
    );
}

/// Marks a channel read on the server and here.
function markRead(channel: Channel) {
    const member = myMembers.value.get(channel.id);
    if (member) {
        const next = new Map(myMembers.value);
        next.set(channel.id, viewed(channel, member));
        myMembers.value = next;
    }
    client.viewMyChannel(channel.id).catch(() => {});
}

/// Leaves a channel; the sidebar drops it (and the page leaves it, if it was open).
async function leave(channel: Channel, teamName: string): Promise<void> {
    await client.removeFromChannel(me.value!.id, channel.id);
    const nextChannels = new Map(channels.value);
    nextChannels.delete(channel.id);
    channels.value = nextChannels;
    const nextMembers = new Map(myMembers.value);
    nextMembers.delete(channel.id);
    myMembers.value = nextMembers;
    if (currentChannelId.value === channel.id) {
        navigate(`/${teamName}/channels/town-square`, true);
    }
}

type Dialog = 'browse' | 'create' | 'message' | 'switch' | null;

/// Moves a channel into Favorites, or out of it back to Channels / Direct Messages: shown at
/// once, saved with the categories API (the server tells my other pages by websocket).
async function toggleFavorite(channel: Channel): Promise<void> {
    const before = categories.value;
    const team = currentTeam.value;
    const changed = favoriteMove(before, channel);
    if (!team || !me.value || changed.length === 0) {
        return;
    }
    categories.value = before.map((c) => changed.find((u) => u.id === c.id) ?? c);
    try {
        await client.updateChannelCategories(me.value.id, team.id, changed);
    } catch (err) {
        categories.value = before;
        throw err;
    }
}

export function ChannelSidebar({ teamName }: Props) {
    const [dialog, setDialog] = useState<Dialog>(null);
    const [menu, setMenu] = useState(false);
    const [collapsed, setCollapsed] = useState<Set<string>>(new Set());
    const [error, setError] = useState('');
    const [itemMenu, setItemMenu] = useState<string | null>(null);
    useEffect(() => {
        if (!itemMenu) {
            return undefined;
        }
        const close = (event: MouseEvent) => {
            if (!(event.target as HTMLElement).closest?.('.item-menu, .item-menu-toggle')) {
                setItemMenu(null);
            }
        };
        document.addEventListener('mousedown', close);
        return () => document.removeEventListener('mousedown', close);
    }, [itemMenu]);
    const menuBox = useRef<HTMLDivElement>(null);
    useEffect(() => {
        if (!menu) {
            return undefined;
        }
        const close = (event: MouseEvent) => {
            if (menuBox.current && !menuBox.current.contains(event.target as Node)) {
                setMenu(false);
            }
        };
        document.addEventListener('mousedown', close);
        return () => document.removeEventListener('mousedown', close);
    }, [menu]);

    // Ctrl+K / ⌘K opens "Find channels" from anywhere on the chat screen; Alt+↑/↓ goes to the
    // previous/next channel in the sidebar, Alt+Shift+↑/↓ to the previous/next unread one.
    useEffect(() => {
        const onKey = (event: KeyboardEvent) => {
            if ((event.ctrlKey || event.metaKey) && !event.altKey && event.key.toLowerCase() === 'k') {
                event.preventDefault();
                setMenu(false);
                setDialog('switch');
            } else if (event.altKey && !event.ctrlKey && !event.metaKey && (event.key === 'ArrowUp' || event.key === 'ArrowDown')) {
                const order = sidebarCategories(categories.value, channels.value, shownName).flatMap((c) => c.channels);
                const here = order.findIndex((c) => c.id === currentChannelId.value);
                const step = event.key === 'ArrowUp' ? -1 : 1;
                for (let i = 1; i <= order.length; i++) {
                    const next = order[(here + step * i + order.length * i) % order.length];
                    if (next && next.id !== currentChannelId.value
                        && (!event.shiftKey || isUnread(next, myMembers.value.get(next.id)))) {
                        event.preventDefault();
                        navigate(channelPath(teamName, next));
                        return;
                    }
                }
            }
        };
        document.addEventListener('keydown', onKey);
        return () => document.removeEventListener('keydown', onKey);
    }, [teamName]);

    const members = myMembers.value;
    const list = sidebarCategories(categories.value, channels.value, shownName);
    const open = (kind: Dialog) => {
        setMenu(false);
        setDialog(kind);
    };
    const toggle = (id: string) => {
        const next = new Set(collapsed);
        if (next.has(id)) {
            next.delete(id);
        } else {
            next.add(id);
        }
        setCollapsed(next);
    };

    return (
        <nav id="SidebarContainer" aria-label="Channels">
            <div class="sidebar-header" ref={menuBox}>
                <span class="team-name" id="sidebarTeamName" title={currentTeam.value?.display_name}>{currentTeam.value?.display_name ?? teamName}</span>
                <button class="add-channel" id="addChannelsCta" aria-label="Add channels" title="Add channels" aria-expanded={menu}
                    onClick={() => setMenu(!menu)}>+</button>
                {menu && (
                    <div class="menu sidebar-menu" role="menu">
                        <button role="menuitem" id="browseChannelsMenuItem" onClick={() => open('browse')}>Browse channels</button>
                        <button role="menuitem" id="createNewChannelMenuItem" onClick={() => open('create')}>Create new channel</button>
                        <button role="menuitem" id="openDirectMessageMenuItem" onClick={() => open('message')}>Open a direct message</button>
                    </div>
                )}
            </div>
            {error && <div class="error sidebar-error" role="alert">{error}</div>}
            <button class="find-channel" id="sidebarSwitcherButton" onClick={() => open('switch')}>
                <span>Find channel</span><kbd>Ctrl K</kbd>
            </button>
            <div class="sidebar-scroll">
                {list.map((category) => {
                    const isCollapsed = collapsed.has(category.id);
                    const shown = isCollapsed
                        ? category.channels.filter((c) => c.id === currentChannelId.value || isUnread(c, members.get(c.id)))
                        : category.channels;
                    return (
                        <div class="sidebar-category" key={category.id} data-category={category.type}>
                            <div class="category-header">
                                <button class="category-name" aria-expanded={!isCollapsed} onClick={() => toggle(category.id)}>
                                    <span class={isCollapsed ? 'chevron collapsed' : 'chevron'}>▾</span>{category.name}
                                </button>
                                {category.type === 'direct_messages' && (
                                    <button class="category-add" id="newDirectMessageButton" aria-label="Write a direct message"
                                        title="Write a direct message" onClick={() => open('message')}>+</button>
                                )}
                            </div>
                            <ul>
                                {shown.map((c) => {
                                    const member = members.get(c.id);
                                    const unread = isUnread(c, member) && c.id !== currentChannelId.value;
                                    const mentions = c.id === currentChannelId.value ? 0 : mentionCount(member);
                                    const href = channelPath(teamName, c);
                                    const classes = ['SidebarLink', unread ? 'unread' : '', c.id === currentChannelId.value ? 'active' : ''].filter(Boolean).join(' ');
                                    return (
                                        <li key={c.id}>
                                            <a id={`sidebarItem_${c.name}`} href={href} class={classes}
                                                aria-label={`${shownName(c)}${unread ? ', unread' : ''}${mentions ? `, ${mentions} mention${mentions === 1 ? '' : 's'}` : ''}`}
                                                onClick={(e) => {
                                                    e.preventDefault();
                                                    navigate(href);
                                                }}>
                                                <ChannelIcon channel={c} />
                                                <span class="sidebar-name">{shownName(c)}</span>
                                                {mentions > 0 && <span class="badge" data-testid="mentionBadge">{mentions}</span>}
                                            </a>
                                            <button class={category.type === 'favorites' ? 'favorite-toggle on' : 'favorite-toggle'}
                                                id={`favorite_${c.name}`}
                                                aria-label={category.type === 'favorites' ? `Remove ${shownName(c)} from Favorites` : `Add ${shownName(c)} to Favorites`}
                                                title={category.type === 'favorites' ? 'Remove from Favorites' : 'Add to Favorites'}
                                                onClick={() => { setError(''); toggleFavorite(c).catch((err) => setError(errorMessage(err))); }}>
                                                {category.type === 'favorites' ? '★' : '☆'}
                                            </button>
                                            <button class="item-menu-toggle" id={`channelMenu_${c.name}`} aria-label={`${shownName(c)} options`}
                                                title="Channel options" aria-expanded={itemMenu === c.id}
                                                onClick={() => setItemMenu(itemMenu === c.id ? null : c.id)}>⋯</button>
                                            {itemMenu === c.id && (
                                                <div class="menu item-menu" role="menu">
                                                    <button role="menuitem" id={`markRead_${c.name}`} onClick={() => { setItemMenu(null); markRead(c); }}>Mark as read</button>
                                                    {(c.type === 'O' || c.type === 'P') && c.name !== 'town-square' && (
                                                        <button role="menuitem" class="danger" id={`leave_${c.name}`} onClick={() => {
                                                            setItemMenu(null);
                                                            setError('');
                                                            leave(c, teamName).catch((err) => setError(errorMessage(err)));
                                                        }}>Leave channel</button>
                                                    )}
                                                </div>
                                            )}
                                        </li>
                                    );
                                })}
                            </ul>
                        </div>
                    );
                })}
                <button class="sidebar-browse" id="browseChannelsButton" onClick={() => open('browse')}>+ Browse channels</button>
            </div>
            {dialog === 'browse' && <BrowseChannels onClose={() => setDialog(null)} />}
            {dialog === 'create' && <NewChannel onClose={() => setDialog(null)} />}
            {dialog === 'message' && <NewMessage onClose={() => setDialog(null)} />}
            {dialog === 'switch' && <ChannelSwitcher onClose={() => setDialog(null)} />}
        </nav>
    );
}
