// /{team}/channels/{channel}: the team's channels on the left (#SidebarContainer), the channel's
// posts in the centre (#channel_view), new posts live over the websocket, the message box
// (#post_textbox: Enter sends, Shift+Enter is a new line). Element ids are Mattermost's.

import { useEffect, useState } from 'preact/hooks';
import { client, errorMessage, pendingPostId, subscribe } from '../api';
import { renderMarkdown } from '../markdown';
import { Channel, me, mergePosts, navigate, Post, Team, User, users } from '../state';

type Props = { teamName: string; channelName: string };

export function ChannelView({ teamName, channelName }: Props) {
    const [team, setTeam] = useState<Team | null>(null);
    const [channels, setChannels] = useState<Channel[]>([]);
    const [channel, setChannel] = useState<Channel | null>(null);
    const [posts, setPosts] = useState<Post[]>([]);
    const [draft, setDraft] = useState('');
    const [error, setError] = useState('');

    useEffect(() => {
        let cancelled = false;
        (async () => {
            try {
                const found: Team = await client.getTeamByName(teamName);
                const mine: Channel[] = await client.getMyChannels(found.id);
                const current: Channel = await client.getChannelByNameAndTeamName(teamName, channelName);
                const list = await client.getPosts(current.id, 0, 60);
                if (cancelled) {
                    return;
                }
                setTeam(found);
                setChannels(mine.filter((c) => c.type === 'O' || c.type === 'P')
                    .sort((a, b) => a.display_name.localeCompare(b.display_name)));
                setChannel(current);
                setPosts(mergePosts([], list.order.map((id: string) => list.posts[id])));
                client.viewMyChannel(current.id).catch(() => {});
            } catch (err) {
                if (!cancelled) {
                    setError(errorMessage(err));
                }
            }
        })();
        return () => {
            cancelled = true;
        };
    }, [teamName, channelName]);

    useEffect(() => {
        if (!channel) {
            return undefined;
        }
        return subscribe({
            onEvent: (message) => {
                if (message.event === 'posted' && message.data.post) {
                    const post: Post = JSON.parse(message.data.post);
                    if (post.channel_id === channel.id) {
                        setPosts((current) => mergePosts(current, [post]));
                    }
                }
            },
            // Posts this page may have missed while it was not connected.
            onResync: () => {
                client.getPosts(channel.id, 0, 60).then((list: any) => {
                    setPosts((current) => mergePosts(current, list.order.map((id: string) => list.posts[id])));
                }).catch(() => {});
            },
        });
    }, [channel?.id]);

    // The authors of what is shown, fetched once each.
    useEffect(() => {
        const missing = [...new Set(posts.map((post) => post.user_id))].filter((id) => !users.value.has(id));
        if (missing.length === 0) {
            return;
        }
        client.getProfilesByIds(missing).then((profiles: User[]) => {
            const known = new Map(users.value);
            for (const profile of profiles) {
                known.set(profile.id, profile);
            }
            users.value = known;
        }).catch(() => {});
    }, [posts]);

    const send = async () => {
        const message = draft.trim();
        if (!message || !channel || !me.value) {
            return;
        }
        setDraft('');
        try {
            const created: Post = await client.createPost({
                channel_id: channel.id,
                message,
                pending_post_id: pendingPostId(me.value.id),
            });
            setPosts((current) => mergePosts(current, [created]));
        } catch (err) {
            setDraft(message);
            setError(errorMessage(err));
        }
    };

    const onKeyDown = (event: KeyboardEvent) => {
        if (event.key === 'Enter' && !event.shiftKey) {
            event.preventDefault();
            send();
        }
    };

    return (
        <div class="app">
            <nav id="SidebarContainer">
                <div class="team-name">{team?.display_name ?? teamName}</div>
                <ul>
                    {channels.map((c) => (
                        <li key={c.id}>
                            <a id={`sidebarItem_${c.name}`} href={`/${teamName}/channels/${c.name}`}
                                class={c.name === channelName ? 'active' : ''}
                                onClick={(e) => {
                                    e.preventDefault();
                                    navigate(`/${teamName}/channels/${c.name}`);
                                }}>
                                {c.type === 'P' ? '🔒 ' : '# '}{c.display_name}
                            </a>
                        </li>
                    ))}
                </ul>
            </nav>
            <main id="channel_view">
                <header><h2 id="channelHeaderTitle">{channel?.display_name ?? ''}</h2></header>
                {error && <div class="error">{error}</div>}
                <div class="post-list">
                    {posts.map((post) => (
                        <div class="post" id={`post_${post.id}`} key={post.id}>
                            <img class="avatar" alt="" src={`/api/v4/users/${post.user_id}/image`} />
                            <div>
                                <div class="post-header">
                                    <span class="post-author">{users.value.get(post.user_id)?.username ?? '…'}</span>
                                    <span class="post-time">{new Date(post.create_at).toLocaleTimeString()}</span>
                                </div>
                                <div class="post-text" id={`postMessageText_${post.id}`}
                                    dangerouslySetInnerHTML={{ __html: renderMarkdown(post.message) }} />
                            </div>
                        </div>
                    ))}
                </div>
                {channel && (
                    <textarea id="post_textbox" rows={2} placeholder={`Write to ${channel.display_name}`}
                        value={draft} onInput={(e) => setDraft((e.target as HTMLTextAreaElement).value)}
                        onKeyDown={onKeyDown} />
                )}
            </main>
        </div>
    );
}
