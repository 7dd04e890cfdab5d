// A thread in the right-hand pane (#rhsContainer): its root post, the replies, live (posted,
// post_edited, post_deleted, reaction_added/removed for the thread's posts), fetched again
// after a reconnect that could not resume, and its own message box (#reply_textbox). The
// posts are PostItems at location RHS (#rhsPost_{id}, #rhsPostMessageText_{id}).

import { useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks';
import { client, errorMessage, subscribe } from '../api';
import { pending } from '../logic/outbox';
import { mergePosts, postsOf } from '../logic/posts';
import { applyThreadEvent, refetchedThread } from '../logic/thread';
import { channels, Post, rememberUsers, rightPane, User, users } from '../state';
import { Composer } from './Composer';
import { TypingIndicator } from './TypingIndicator';
import { PostItem } from './PostItem';

export function ThreadPane({ rootId }: { rootId: string }) {
    const [posts, setPosts] = useState<Post[]>([]);
    const [loaded, setLoaded] = useState(false);
    const [error, setError] = useState('');
    const [rootDeleted, setRootDeleted] = useState(false);
    const list = useRef<HTMLDivElement>(null);
    const stickToBottom = useRef(true);

    useEffect(() => {
        let cancelled = false;
        setPosts([]);
        setLoaded(false);
        setError('');
        setRootDeleted(false);
        stickToBottom.current = true;
        const load = (replace: boolean) => {
            const started = Date.now();
            client.getPostThread(rootId, true, false, false).then((answer: any) => {
                if (cancelled) {
                    return;
                }
                const fetched = postsOf(answer);
                setPosts((current) => (replace ? refetchedThread(current, fetched, started) : mergePosts([], fetched)));
                setLoaded(true);
            }).catch((err: unknown) => {
                if (!cancelled) {
                    setError(errorMessage(err));
                    setLoaded(true);
                }
            });
        };
        load(false);
        const unsubscribe = subscribe({
            onEvent: (event) => {
                const change = applyThreadEvent(rootId, event);
                if (change === 'root-deleted') {
                    setRootDeleted(true);
                } else if (change) {
                    setPosts(change);
                }
            },
            onResync: () => load(true),
        });
        return () => {
            cancelled = true;
            unsubscribe();
        };
    }, [rootId]);

    // The authors of what is shown, fetched once each.
    useEffect(() => {
        const missing = [...new Set(posts.map((post) => post.user_id))].filter((id) => !users.value.has(id));
        if (missing.length > 0) {
            client.getProfilesByIds(missing).then((profiles: User[]) => rememberUsers(profiles)).catch(() => {});
        }
    }, [posts]);

    const root = posts.find((post) => post.id === rootId);
    const replies = posts.filter((post) => post.id !== rootId);
    const sent = new Set(posts.map((post) => post.pending_post_id).filter(Boolean));
    const waiting = [...pending.value.values()]
        .filter((entry) => entry.post.root_id === rootId && !sent.has(entry.post.pending_post_id));

    // Opened at the newest reply; a new reply scrolls into view unless the person scrolled up.
    useLayoutEffect(() => {
        const element = list.current;
        if (element && stickToBottom.current) {
            element.scrollTop = element.scrollHeight;
        }
    }, [posts.length, waiting.length, loaded]);

    const channel = root ? channels.value.get(root.channel_id) : undefined;
    const close = () => {
        rightPane.value = null;
    };

    return (
        <div class="thread-pane">
            <header class="rhs-header">
                <div class="rhs-title">
                    <h3>Thread</h3>
                    {channel && <span class="rhs-channel muted" id="rhsChannelName">{channel.type === 'P' ? '🔒 ' : channel.type === 'O' ? '# ' : ''}{channel.display_name}</span>}
                </div>
                <button type="button" class="close" id="rhsCloseButton" aria-label="Close" title="Close" onClick={close}>×</button>
            </header>
            <div class="thread-posts" ref={list} onScroll={(event) => {
                const element = event.currentTarget as HTMLDivElement;
                stickToBottom.current = element.scrollHeight - element.scrollTop - element.clientHeight < 40;
            }}>
                {error && <div class="error">{error}</div>}
                {!loaded && <div class="muted thread-loading">Loading the thread…</div>}
                {rootDeleted && <div class="muted thread-deleted">The message this thread replies to was deleted.</div>}
                {root && !rootDeleted && (
                    <div class="thread-root">
                        <PostItem post={root} location="RHS" />
                    </div>
                )}
                {root && (
                    <div class="thread-reply-count" id="rhsReplyCount" data-count={replies.length}>
                        <span>{replies.length === 0 ? 'No replies yet' : replies.length === 1 ? '1 reply' : `${replies.length} replies`}</span>
                    </div>
                )}
                {replies.map((post) => <PostItem key={post.id} post={post} location="RHS" />)}
                {waiting.map((entry) => (
                    <div class={`post pending ${entry.state}`} key={entry.post.pending_post_id}>
                        <div class="post-text">
                            {entry.post.message}
                            {entry.post.file_ids?.length ? <span class="muted"> 📎 {entry.post.file_ids.length === 1 ? '1 file' : `${entry.post.file_ids.length} files`}</span> : null}
                        </div>
                        <div class="muted">{entry.state === 'sending' ? 'Sending…' : `Not sent: ${entry.error}`}</div>
                    </div>
                ))}
            </div>
            {root && !rootDeleted && (
                <Composer id="reply_textbox" channelId={root.channel_id} rootId={rootId} placeholder="Reply to thread…"
                    onSent={(created) => setPosts((current) => mergePosts(current, [created]))} />
            )}
            {root && !rootDeleted && <TypingIndicator channelId={root.channel_id} parentId={rootId} />}
        </div>
    );
}
