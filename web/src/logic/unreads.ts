// Unread state of the sidebar, as pure functions over channels and my memberships (tested in
// tests/unit/unreads.test.ts). Mattermost's rule (mattermost-redux's channel unread selectors,
// collapsed threads off): a channel is unread when it has more messages than I have read
// (channel.total_msg_count − member.msg_count > 0), unless I chose to be marked unread only for
// mentions; its badge is member.mention_count. Direct and group messages count every post from
// someone else as a mention.

import type { Category, Channel, ChannelMember, Post, User } from '../state';

export function unreadMessages(channel: Channel | undefined, member: ChannelMember | undefined): number {
    if (!channel || !member) {
        return 0;
    }
    return Math.max(0, (channel.total_msg_count ?? 0) - (member.msg_count ?? 0));
}

export function mentionCount(member: ChannelMember | undefined): number {
    return member?.mention_count ?? 0;
}

/// Whether the sidebar shows the channel as unread (bold).
export function isUnread(channel: Channel | undefined, member: ChannelMember | undefined): boolean {
    if (mentionCount(member) > 0) {
        return true;
    }
    if (member?.notify_props?.mark_unread === 'mention') {
        return false;
    }
    return unreadMessages(channel, member) > 0;
}

/// My membership once I have seen everything in the channel.
export function viewed(channel: Channel | undefined, member: ChannelMember, at = Date.now()): ChannelMember {
    return {
        ...member,
        msg_count: Math.max(member.msg_count, channel?.total_msg_count ?? member.msg_count),
        mention_count: 0,
        last_viewed_at: Math.max(member.last_viewed_at ?? 0, at),
    };
}

/// A new post in a channel (the `posted` event): the channel counts one more message, and my
/// membership counts it as read (mine, or the channel is on screen), or as a mention (the
/// event's `mentions` name me, or it is a direct/group message), or as just unread.
/// Replies are counted like root posts (collapsed threads off), as the server counts them.
export function posted(
    channel: Channel, member: ChannelMember | undefined, post: Post,
    { myId, viewing, mentions }: { myId: string; viewing: boolean; mentions: string[] },
): { channel: Channel; member: ChannelMember | undefined } {
    if ((channel.last_post_at ?? 0) >= post.create_at && post.create_at > 0) {
        // The channel was fetched after this post was made (a new DM, a channel I was just
        // added to): its counts include the post already.
        const read = viewing && member ? { ...member, msg_count: channel.total_msg_count ?? member.msg_count, mention_count: 0 } : member;
        return { channel, member: read };
    }
    const next: Channel = {
        ...channel,
        total_msg_count: (channel.total_msg_count ?? 0) + 1,
        total_msg_count_root: (channel.total_msg_count_root ?? 0) + (post.root_id ? 0 : 1),
        last_post_at: Math.max(channel.last_post_at ?? 0, post.create_at),
    };
    if (!member) {
        return { channel: next, member };
    }
    if (viewing) {
        return { channel: next, member: { ...member, msg_count: next.total_msg_count ?? 0, mention_count: 0 } };
    }
    if (post.user_id === myId) {
        return { channel: next, member: { ...member, msg_count: member.msg_count + 1 } };
    }
    const direct = channel.type === 'D' || channel.type === 'G';
    const mentioned = direct || mentions.includes(myId);
    return { channel: next, member: { ...member, mention_count: member.mention_count + (mentioned ? 1 : 0) } };
}

/// Parses the `mentions` of a `posted` event (a JSON list of user ids, or absent).
export function parseMentions(raw: unknown): string[] {
    if (Array.isArray(raw)) {
        return raw.filter((id): id is string => typeof id === 'string');
    }
    if (typeof raw !== 'string' || raw === '') {
        return [];
    }
    try {
        const list = JSON.parse(raw);
        return Array.isArray(list) ? list.filter((id): id is string => typeof id === 'string') : [];
    } catch {
        return [];
    }
}

/// The other person of a direct channel (named "{id}__{id}"); myself for a DM with myself.
export function directPartnerId(channel: Channel, myId: string): string | null {
    if (channel.type !== 'D') {
        return null;
    }
    const [a, b] = channel.name.split('__');
    if (!a || !b) {
        return null;
    }
    return a === myId ? b : a;
}

/// The name the sidebar and header show: the other person for a DM, the members for a group.
export function channelName(channel: Channel, myId: string, users: Map<string, User>, groupMembers?: User[]): string {
    if (channel.type === 'D') {
        const partner = directPartnerId(channel, myId);
        const user = partner ? users.get(partner) : undefined;
        if (user) {
            return partner === myId ? `${user.username} (you)` : user.username;
        }
        return channel.display_name || '…';
    }
    if (channel.type === 'G' && groupMembers && groupMembers.length > 0) {
        return groupMembers.filter((u) => u.id !== myId).map((u) => u.username).sort().join(', ');
    }
    if (channel.type === 'G') {
        // The server names a group by all its members; I am not shown in my own sidebar.
        const mine = users.get(myId)?.username;
        const others = channel.display_name.split(',').map((n) => n.trim()).filter((n) => n && n !== mine);
        return others.length > 0 ? others.join(', ') : channel.display_name;
    }
    return channel.display_name || channel.name;
}

export type SidebarCategory = { id: string; type: string; name: string; channels: Channel[] };

/// The sidebar's categories with the channels I have, in the server's category order. A channel
/// no category names yet (just created, a new DM) goes to Channels or Direct Messages by type.
/// Sorting: "manual" keeps the category's order, "recent" is newest post first, and otherwise
/// (Mattermost's default for Channels) alphabetical by shown name; Direct Messages default to
/// recent.
export function sidebarCategories(
    categories: Category[], channels: Map<string, Channel>, nameOf: (channel: Channel) => string,
): SidebarCategory[] {
    const placed = new Set<string>();
    const result: SidebarCategory[] = [];
    const list = categories.length > 0 ? categories : [
        { id: 'favorites', type: 'favorites', display_name: 'Favorites', channel_ids: [] },
        { id: 'channels', type: 'channels', display_name: 'Channels', channel_ids: [] },
        { id: 'direct_messages', type: 'direct_messages', display_name: 'Direct Messages', channel_ids: [] },
    ] as Category[];
    for (const category of list) {
        const own = category.channel_ids
            .filter((id) => !placed.has(id))
            .map((id) => channels.get(id))
            .filter((c): c is Channel => !!c && !c.delete_at);
        own.forEach((c) => placed.add(c.id));
        result.push({ id: category.id, type: category.type, name: category.display_name, channels: own });
    }
    const channelsCategory = result.find((c) => c.type === 'channels');
    const directCategory = result.find((c) => c.type === 'direct_messages');
    for (const channel of channels.values()) {
        if (placed.has(channel.id) || channel.delete_at) {
            continue;
        }
        const home = channel.type === 'D' || channel.type === 'G' ? directCategory : channelsCategory;
        home?.channels.push(channel);
    }
    for (const category of result) {
        const sorting = list.find((c) => c.id === category.id)?.sorting ?? '';
        if (sorting === 'manual') {
            continue;
        }
        const recent = sorting === 'recent' || (sorting === '' && category.type === 'direct_messages');
        category.channels.sort(recent
            ? (a, b) => (b.last_post_at ?? 0) - (a.last_post_at ?? 0) || nameOf(a).localeCompare(nameOf(b))
            : (a, b) => nameOf(a).localeCompare(nameOf(b), undefined, { sensitivity: 'base' }));
    }
    return result.filter((category) => category.type !== 'favorites' || category.channels.length > 0);
}

/// Whether any of a team's channels are unread / its mention total (team sidebar marks).
export function teamMarks(unread: { msg_count: number; mention_count: number } | undefined): { unread: boolean; mentions: number } {
    return { unread: (unread?.msg_count ?? 0) > 0 || (unread?.mention_count ?? 0) > 0, mentions: unread?.mention_count ?? 0 };
}

/// A channel's URL name from its display name, as Mattermost makes it: lowercase letters,
/// digits, dashes and underscores; other characters become dashes.
export function channelUrlName(displayName: string): string {
    return displayName.trim().toLowerCase()
        .replace(/[^a-z0-9_-]+/g, '-')
        .replace(/-{2,}/g, '-')
        .replace(/^-+|-+$/g, '')
        .slice(0, 64);
}

/// The categories to save to move `channel` into Favorites, or (when it is a favorite) back to
/// Channels or Direct Messages: the category it leaves and the one it joins (at the top).
export function favoriteMove(categories: Category[], channel: Channel): Category[] {
    const favorites = categories.find((c) => c.type === 'favorites');
    const home = categories.find((c) => c.type === (channel.type === 'D' || channel.type === 'G' ? 'direct_messages' : 'channels'));
    if (!favorites || !home) {
        return [];
    }
    const isFavorite = favorites.channel_ids.includes(channel.id);
    const source = isFavorite ? favorites : categories.find((c) => c.channel_ids.includes(channel.id));
    const target = isFavorite ? home : favorites;
    const moved: Category[] = [];
    if (source && source.id !== target.id) {
        moved.push({ ...source, channel_ids: source.channel_ids.filter((id) => id !== channel.id) });
    }
    moved.push({ ...target, channel_ids: [channel.id, ...target.channel_ids.filter((id) => id !== channel.id)] });
    return moved;
}

/// The browser tab's title, as Mattermost writes it: "(mentions) " when I have mentions
/// elsewhere, "* " when something else is unread, then the channel and the team.
export function pageTitle(
    channelShown: string, teamShown: string, mentionsElsewhere: number, unreadElsewhere: boolean, siteName = 'Chorus',
): string {
    const prefix = mentionsElsewhere > 0 ? `(${mentionsElsewhere}) ` : unreadElsewhere ? '* ' : '';
    const place = [channelShown, teamShown].filter(Boolean).join(' - ');
    return place ? `${prefix}${place} | ${siteName}` : `${prefix}${siteName}`;
}

/// Whether a fetched channel is older than the copy the page has (an answer that was overtaken
/// by a newer fetch or by live posts): keep the page's copy then.
export function isStale(fetched: Channel, known: Channel | undefined): boolean {
    return !!known && (known.total_msg_count ?? 0) > (fetched.total_msg_count ?? 0);
}
