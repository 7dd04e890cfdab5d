// The chat screen for /{team}/channels/{channel}, /{team}/messages/@{username} (a direct
// message), /{team}/messages/{group channel name} and /{team}/pl/{post_id} (a permalink): the
// header with the search box, teams on the far left, the team's channels (#SidebarContainer),
// the channel (#channel_view), and the right-hand pane (a thread or search results,
// #rhsContainer). Loads what the sidebars show and keeps it live: unread and mention counts,
// channels I join or leave, new direct and group messages, presence.

import { useEffect, useRef, useState } from 'preact/hooks';
import { client, connection, errorMessage, SocketEvent, subscribe } from '../api';
import {
    channelName as nameOfChannel, directPartnerId, isStale, isUnread, mentionCount, pageTitle, parseMentions, posted, viewed,
} from '../logic/unreads';
import {
    categories, Category, Channel, ChannelMember, channels, currentChannelId, currentTeam, highlightPostId, me,
    myMembers, navigate, Post, rememberUsers, rightPane, statuses, Team, teams, TeamUnread, teamUnreads, User, users,
} from '../state';
import { ChannelSidebar, channelPath } from './ChannelSidebar';
import { ChannelView } from './ChannelView';
import { HeaderBar } from './HeaderBar';
import { addMyChannel } from './NewMessage';
import { ReconnectBanner } from './ReconnectBanner';
import { RightPane } from './RightPane';
import { TeamSidebar } from './TeamSidebar';

type Props = { teamName: string; channelName?: string; directUsername?: string; postId?: string };

let loads = 0;

async function loadTeam(teamName: string): Promise<void> {
    const load = ++loads;
    const myId = me.value!.id;
    const team: Team = await client.getTeamByName(teamName);
    const [mine, myChannels, members, ordered, unreads]: [Team[], Channel[], ChannelMember[], any, TeamUnread[]] = await Promise.all([
        client.getMyTeams(), client.getMyChannels(team.id), client.getMyChannelMembers(team.id),
        client.getChannelCategories(myId, team.id).catch(() => null),
        client.getMyTeamUnreads().catch(() => []),
    ]);
    if (load !== loads) {
        return;
    }
    teams.value = mine;
    currentTeam.value = team;
    const memberMap = new Map(members.map((member) => [member.channel_id, member]));
    // The channel on screen has been read up to now.
    const current = currentChannelId.value;
    const shown = current ? myChannels.find((c) => c.id === current) : undefined;
    if (shown && memberMap.has(shown.id)) {
        memberMap.set(shown.id, viewed(shown, memberMap.get(shown.id)!));
    }
    channels.value = new Map(myChannels.filter((c) => !c.delete_at).map((channel) => [channel.id, channel]));
    myMembers.value = memberMap;
    categories.value = orderedCategories(ordered);
    teamUnreads.value = new Map(unreads.map((unread) => [unread.team_id, unread]));
}

function orderedCategories(ordered: any): Category[] {
    const list: Category[] = ordered?.categories ?? [];
    const order: string[] = ordered?.order ?? [];
    return order.length > 0 ? order.map((id) => list.find((c) => c.id === id)).filter((c): c is Category => !!c) : list;
}

async function loadCategories(myId: string, teamId: string): Promise<void> {
    const ordered = await client.getChannelCategories(myId, teamId);
    if (currentTeam.value?.id === teamId) {
        categories.value = orderedCategories(ordered);
    }
}

function setMember(channelId: string, member: ChannelMember | undefined) {
    if (!member) {
        return;
    }
    const next = new Map(myMembers.value);
    next.set(channelId, member);
    myMembers.value = next;
}

function setChannel(channel: Channel) {
    const next = new Map(channels.value);
    next.set(channel.id, { ...(channels.value.get(channel.id) ?? {}), ...channel });
    channels.value = next;
}

function dropChannel(channelId: string) {
    if (!channels.value.has(channelId)) {
        return;
    }
    const next = new Map(channels.value);
    next.delete(channelId);
    channels.value = next;
    const members = new Map(myMembers.value);
    members.delete(channelId);
    myMembers.value = members;
}

/// Fetches a channel I was added to (or that a post arrived in before I knew it) with my
/// membership, if it belongs in this team's sidebar.
async function fetchMyChannel(channelId: string): Promise<void> {
    const [channel, member]: [Channel, ChannelMember] = await Promise.all([
        client.getChannel(channelId), client.getChannelMember(channelId, me.value!.id),
    ]);
    if ((channel.team_id && channel.team_id !== currentTeam.value?.id) || isStale(channel, channels.value.get(channel.id))) {
        return;
    }
    setChannel(channel);
    setMember(channel.id, member);
}

function markTeamUnread(teamId: string, mentioned: boolean) {
    const next = new Map(teamUnreads.value);
    const old = next.get(teamId) ?? { team_id: teamId, msg_count: 0, mention_count: 0 };
    next.set(teamId, { ...old, msg_count: old.msg_count + 1, mention_count: old.mention_count + (mentioned ? 1 : 0) });
    teamUnreads.value = next;
}

/// Channels whose posts arrived while they were on screen: leaving one tells the server it was
/// read up to then (the server counts them unread otherwise).
const readWhileShown = new Set<string>();

function onEvent(message: SocketEvent) {
    const myId = me.value?.id;
    if (!myId) {
        return;
    }
    const data = message.data ?? {};
    const broadcast = message.broadcast ?? {};
    switch (message.event) {
    case 'posted': {
        const post: Post = JSON.parse(data.post);
        const channel = channels.value.get(post.channel_id);
        const mentions = parseMentions(data.mentions);
        if (!channel) {
            const teamId = data.team_id || broadcast.team_id || '';
            if (teamId && teamId !== currentTeam.value?.id) {
                if (post.user_id !== myId) {
                    markTeamUnread(teamId, mentions.includes(myId));
                }
            } else {
                fetchMyChannel(post.channel_id).catch(() => {});
            }
            return;
        }
        const viewing = channel.id === currentChannelId.value && document.visibilityState !== 'hidden';
        if (viewing && post.user_id !== myId) {
            readWhileShown.add(channel.id);
        }
        const next = posted(channel, myMembers.value.get(channel.id), post, { myId, viewing, mentions });
        setChannel(next.channel);
        setMember(channel.id, next.member);
        return;
    }
    case 'channel_viewed': {
        const channel = channels.value.get(data.channel_id);
        const member = myMembers.value.get(data.channel_id);
        if (member) {
            setMember(data.channel_id, viewed(channel, member));
        }
        return;
    }
    case 'multiple_channels_viewed': {
        const times: Record<string, number> = data.channel_times ?? {};
        const next = new Map(myMembers.value);
        for (const [id, at] of Object.entries(times)) {
            const member = next.get(id);
            if (member) {
                next.set(id, viewed(channels.value.get(id), member, at));
            }
        }
        myMembers.value = next;
        return;
    }
    case 'post_unread': {
        const member = myMembers.value.get(data.channel_id);
        if (member) {
            setMember(data.channel_id, {
                ...member,
                msg_count: data.msg_count ?? member.msg_count,
                mention_count: data.mention_count ?? member.mention_count,
                last_viewed_at: data.last_viewed_at ?? member.last_viewed_at,
            });
        }
        return;
    }
    case 'channel_created':
    case 'direct_added':
    case 'group_added': {
        const channelId = data.channel_id || broadcast.channel_id;
        if (channelId && !channels.value.has(channelId)) {
            fetchMyChannel(channelId).catch(() => {});
        }
        return;
    }
    case 'user_added': {
        const channelId = broadcast.channel_id || data.channel_id;
        if (data.user_id === myId && channelId && !channels.value.has(channelId)) {
            fetchMyChannel(channelId).catch(() => {});
        }
        return;
    }
    case 'user_removed': {
        // Sent to me when I leave or am removed (data.channel_id), and to the channel's
        // members about someone else (broadcast.channel_id, data.user_id).
        const removedMe = broadcast.user_id === myId || data.user_id === myId;
        const channelId = data.channel_id || broadcast.channel_id;
        if (removedMe && channelId) {
            const leaving = currentChannelId.value === channelId;
            dropChannel(channelId);
            if (leaving && currentTeam.value) {
                navigate(`/${currentTeam.value.name}/channels/town-square`, true);
            }
        }
        return;
    }
    case 'channel_updated':
    case 'channel_converted': {
        if (data.channel) {
            const channel: Channel = typeof data.channel === 'string' ? JSON.parse(data.channel) : data.channel;
            if (channels.value.has(channel.id)) {
                setChannel(channel);
            }
        } else if (data.channel_id && channels.value.has(data.channel_id)) {
            client.getChannel(data.channel_id).then(setChannel).catch(() => {});
        }
        return;
    }
    case 'channel_deleted': {
        const channelId = data.channel_id || broadcast.channel_id;
        if (channelId && channels.value.has(channelId)) {
            const leaving = currentChannelId.value === channelId;
            dropChannel(channelId);
            if (leaving && currentTeam.value) {
                navigate(`/${currentTeam.value.name}/channels/town-square`, true);
            }
        }
        return;
    }
    case 'status_change': {
        if (data.user_id && data.status) {
            const next = new Map(statuses.value);
            next.set(data.user_id, data.status);
            statuses.value = next;
        }
        return;
    }
    case 'sidebar_category_created':
    case 'sidebar_category_updated':
    case 'sidebar_category_deleted':
    case 'sidebar_category_order_updated': {
        const team = currentTeam.value;
        if (team && (!data.team_id || data.team_id === team.id)) {
            loadCategories(myId, team.id).catch(() => {});
        }
        return;
    }
    case 'added_to_team':
    case 'leave_team':
    case 'update_team':
    case 'delete_team': {
        client.getMyTeams().then((mine: Team[]) => { teams.value = mine; }).catch(() => {});
        return;
    }
    default:
    }
}

export function Layout({ teamName, channelName, directUsername, postId }: Props) {
    const [error, setError] = useState('');
    const [channelError, setChannelError] = useState('');
    const resolving = useRef('');

    useEffect(() => {
        setError('');
        loadTeam(teamName).catch((err) => setError(errorMessage(err)));
    }, [teamName]);

    // Kept live by the websocket; after a reconnect that could not resume, fetched again.
    useEffect(() => subscribe({
        onEvent,
        onResync: () => {
            loadTeam(teamName).catch(() => {});
        },
    }), [teamName]);

    const team = currentTeam.value;
    const ready = team !== null && team.name === teamName;
    const myId = me.value?.id ?? '';

    // Which channel the URL names; one I am not in yet is opened (a public channel is joined,
    // a direct message is created), one that does not exist says so.
    useEffect(() => {
        if (!ready || postId) {
            return;
        }
        setChannelError('');
        let channel: Channel | undefined;
        let key = '';
        if (directUsername) {
            const partner = [...users.value.values()].find((u) => u.username === directUsername);
            if (partner) {
                const name = [myId, partner.id].sort().join('__');
                channel = [...channels.value.values()].find((c) => c.name === name);
            }
            key = `@${directUsername}`;
        } else if (channelName) {
            channel = [...channels.value.values()].find((c) => c.name === channelName);
            key = channelName;
        }
        if (channel) {
            currentChannelId.value = channel.id;
            return;
        }
        currentChannelId.value = null;
        if (!key || resolving.current === `${teamName}/${key}`) {
            return;
        }
        resolving.current = `${teamName}/${key}`;
        (async () => {
            if (directUsername) {
                const partner: User = await client.getUserByUsername(directUsername);
                rememberUsers([partner]);
                addMyChannel(await client.createDirectChannel([myId, partner.id]));
            } else {
                const found: Channel = await client.getChannelByName(team!.id, channelName!);
                if (found.type === 'O') {
                    await client.addToChannel(myId, found.id);
                }
                addMyChannel(found);
            }
        })().then(() => {
            resolving.current = '';
        }, (err) => setChannelError(errorMessage(err)));
    }, [ready, channelName, directUsername, postId, channels.value, users.value]);

    // A permalink: open the post's channel (in whichever of my teams it is) and show the post.
    useEffect(() => {
        if (!ready || !postId) {
            return;
        }
        setChannelError('');
        (async () => {
            const post: Post = await client.getPost(postId);
            let channel = channels.value.get(post.channel_id);
            let target = teamName;
            if (!channel) {
                channel = await client.getChannel(post.channel_id) as Channel;
                if (channel.team_id && channel.team_id !== team!.id) {
                    target = (await client.getTeam(channel.team_id)).name;
                } else {
                    addMyChannel(channel);
                }
            }
            highlightPostId.value = post.id;
            navigate(channelPath(target, channel), true);
        })().catch((err) => setChannelError(errorMessage(err)));
    }, [ready, postId]);

    // Entering a channel reads it (ChannelView tells the server); leaving one that got posts
    // while shown tells the server it was read up to then.
    const shownId = currentChannelId.value;
    const previous = useRef<string | null>(null);
    useEffect(() => {
        const left = previous.current;
        previous.current = shownId;
        if (left && left !== shownId && readWhileShown.has(left)) {
            readWhileShown.delete(left);
            client.viewMyChannel(left).catch(() => {});
        }
        if (shownId) {
            const member = myMembers.value.get(shownId);
            if (member) {
                setMember(shownId, viewed(channels.value.get(shownId), member));
            }
        }
    }, [shownId]);

    // The people of my direct messages: their profiles (names) and presence.
    useEffect(() => {
        if (!myId) {
            return;
        }
        const partners = new Set<string>([myId]);
        for (const channel of channels.value.values()) {
            const partner = directPartnerId(channel, myId);
            if (partner) {
                partners.add(partner);
            }
        }
        const unknown = [...partners].filter((id) => !users.value.has(id));
        if (unknown.length > 0) {
            client.getProfilesByIds(unknown).then((profiles: User[]) => rememberUsers(profiles)).catch(() => {});
        }
        const noStatus = [...partners].filter((id) => !statuses.value.has(id));
        if (noStatus.length > 0) {
            client.getStatusesByIds(noStatus).then((list: { user_id: string; status: string }[]) => {
                const next = new Map(statuses.value);
                for (const status of list) {
                    next.set(status.user_id, status.status);
                }
                statuses.value = next;
            }).catch(() => {});
        }
    }, [channels.value, myId]);

    // Presence changes arrive as status_change events; Mattermost's web app also asks again
    // every minute (and here, whenever the websocket connects), since a person whose only
    // session ended may not send one.
    useEffect(() => {
        if (!myId || connection.value !== 'connected') {
            return undefined;
        }
        const refresh = () => {
            const ids = new Set<string>([myId]);
            for (const channel of channels.value.values()) {
                const partner = directPartnerId(channel, myId);
                if (partner) {
                    ids.add(partner);
                }
            }
            client.getStatusesByIds([...ids]).then((list: { user_id: string; status: string }[]) => {
                const next = new Map(statuses.value);
                for (const status of list) {
                    next.set(status.user_id, status.status);
                }
                statuses.value = next;
            }).catch(() => {});
        };
        const first = setTimeout(refresh, 500);
        const every = setInterval(refresh, 60_000);
        return () => {
            clearTimeout(first);
            clearInterval(every);
        };
    }, [myId, connection.value]);

    // A direct message is shown by the other person's name, a group by the others' names
    // (the header reads display_name).
    useEffect(() => {
        let changed: Map<string, Channel> | null = null;
        for (const channel of channels.value.values()) {
            let name: string | null = null;
            if (channel.type === 'D') {
                const partner = directPartnerId(channel, myId);
                const user = partner ? users.value.get(partner) : undefined;
                name = user ? user.username : null;
            } else if (channel.type === 'G' && users.value.has(myId)) {
                name = nameOfChannel(channel, myId, users.value);
            }
            if (name && channel.display_name !== name) {
                changed ??= new Map(channels.value);
                changed.set(channel.id, { ...channel, display_name: name });
            }
        }
        if (changed) {
            channels.value = changed;
        }
    }, [channels.value, users.value]);

    // The tab's title: mentions and unread elsewhere (other channels, other teams), then where I am.
    useEffect(() => {
        let mentions = 0;
        let unread = false;
        for (const channel of channels.value.values()) {
            if (channel.id === shownId) {
                continue;
            }
            const member = myMembers.value.get(channel.id);
            mentions += mentionCount(member);
            unread ||= isUnread(channel, member);
        }
        for (const [teamId, marks] of teamUnreads.value) {
            if (teamId !== team?.id) {
                mentions += marks.mention_count;
                unread ||= marks.msg_count > 0;
            }
        }
        const shown = shownId ? channels.value.get(shownId) : undefined;
        document.title = pageTitle(shown?.display_name ?? '', team?.display_name ?? '', mentions, unread);
    }, [channels.value, myMembers.value, teamUnreads.value, shownId, team?.id]);

    const shownName = directUsername ? `@${directUsername}` : channelName ?? '';
    return (
        <div class="app-root">
            <ReconnectBanner />
            <HeaderBar />
            <div class="app">
                <TeamSidebar />
                <ChannelSidebar teamName={teamName} channelName={shownName} />
                {error ? <main id="channel_view"><div class="error">{error}</div>
                    <p class="muted"><a href="/select_team" onClick={(e) => { e.preventDefault(); navigate('/select_team'); }}>Choose a team</a></p></main>
                    : channelError && !shownId ? <main id="channel_view"><header><h2 id="channelHeaderTitle">{shownName}</h2></header>
                        <div class="error" id="channelNotFound">{channelError}</div></main>
                        : <ChannelView teamName={teamName} channelName={shownName} />}
                {rightPane.value && <RightPane />}
            </div>
        </div>
    );
}
