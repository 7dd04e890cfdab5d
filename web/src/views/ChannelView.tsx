// #channel_view: the channel's header (#channelHeaderTitle), its posts (each #post_{id} with its
// text in #postMessageText_{id}), new posts live over the websocket, and the message box
// (#post_textbox: Enter sends, Shift+Enter is a new line). Element ids are Mattermost's.

import { useEffect, useState } from 'preact/hooks';
import { client, errorMessage, subscribe } from '../api';
import { mergePosts, postsOf } from '../logic/posts';
import { pending } from '../logic/outbox';
import { channels, currentChannelId, Post, rememberUsers, User, users } from '../state';
import { Composer } from './Composer';
import { PostItem } from './PostItem';

type Props = { teamName: string; channelName: string };

const PAGE = 60;

export function ChannelView({ channelName }: Props) {
    const channel = currentChannelId.value ? channels.value.get(currentChannelId.value) ?? null : null;
    const [posts, setPosts] = useState<Post[]>([]);
    const [error, setError] = useState('');

    useEffect(() => {
        if (!channel) {
            return undefined;
        }
        let cancelled = false;
        setPosts([]);
        setError('');
        client.getPosts(channel.id, 0, PAGE).then((list: any) => {
            if (!cancelled) {
                setPosts(mergePosts([], postsOf(list)));
            }
        }).catch((err: unknown) => !cancelled && setError(errorMessage(err)));
        client.viewMyChannel(channel.id).catch(() => {});
        const unsubscribe = subscribe({
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
                client.getPosts(channel.id, 0, PAGE).then((list: any) => {
                    setPosts((current) => mergePosts(current, postsOf(list)));
                }).catch(() => {});
            },
        });
        return () => {
            cancelled = true;
            unsubscribe();
        };
    }, [channel?.id]);

    // The authors of what is shown, fetched once each.
    useEffect(() => {
        const missing = [...new Set(posts.map((post) => post.user_id))].filter((id) => !users.value.has(id));
        if (missing.length > 0) {
            client.getProfilesByIds(missing).then((profiles: User[]) => rememberUsers(profiles)).catch(() => {});
        }
    }, [posts]);

    const sent = new Set(posts.map((post) => post.pending_post_id).filter(Boolean));
    const waiting = [...pending.value.values()]
        .filter((entry) => entry.post.channel_id === channel?.id && !sent.has(entry.post.pending_post_id));

    return (
        <main id="channel_view">
            <header><h2 id="channelHeaderTitle">{channel?.display_name ?? channelName}</h2></header>
            {error && <div class="error">{error}</div>}
            <div class="post-list">
                {posts.map((post) => <PostItem key={post.id} post={post} />)}
                {waiting.map((entry) => (
                    <div class={`post pending ${entry.state}`} key={entry.post.pending_post_id}>
                        <div class="post-text">{entry.post.message}</div>
                        <div class="muted">{entry.state === 'sending' ? 'Sending…' : `Not sent: ${entry.error}`}</div>
                    </div>
                ))}
            </div>
            {channel && (
                <Composer id="post_textbox" channelId={channel.id} placeholder={`Write to ${channel.display_name}`}
                    onSent={(created) => setPosts((current) => mergePosts(current, [created]))} />
            )}
        </main>
    );
}
