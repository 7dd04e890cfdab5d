// #channel_view: the channel's header, its posts and the message box. The history opens at the
// bottom and pages backwards as the person scrolls up (keeping what they look at in place);
// new posts arrive live and keep the view at the bottom when it was there, or show a "new
// messages below" notice when they scrolled up. A "new messages" line marks where the unread
// posts begin. Edits, deletions and reactions arrive live. `highlightPostId` jumps to a post
// (loading the posts around it when it is not loaded).

import { useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks';
import { client, errorMessage, subscribe } from '../api';
import { mergePosts, postsOf } from '../logic/posts';
import { addPost, applyChanges, applyReaction, firstUnreadId, layoutPosts, removePost } from '../logic/postList';
import { ensureStatuses } from '../logic/presence';
import { pending } from '../logic/outbox';
import {
    channels, currentChannelId, highlightPostId, me, myMembers, Post, rememberUsers, User, users,
} from '../state';
import { Composer } from './Composer';
import { PostItem } from './PostItem';
import { TypingIndicator } from './TypingIndicator';

type Props = { teamName: string; channelName: string };

const PAGE = 60;
const AROUND = 30;
/// How close to the top (px) the older posts start loading.
const LOAD_OLDER_WITHIN = 400;
/// How close to the bottom (px) still counts as "at the bottom".
const AT_BOTTOM_WITHIN = 60;

type PostListAnswer = { order: string[]; posts: Record<string, Post> };

export function ChannelView({ channelName }: Props) {
    const channel = currentChannelId.value ? channels.value.get(currentChannelId.value) ?? null : null;
    const [posts, setPosts] = useState<Post[]>([]);
    const [loaded, setLoaded] = useState(false);
    const [error, setError] = useState('');
    const [hasOlder, setHasOlder] = useState(false);
    const [loadingOlder, setLoadingOlder] = useState(false);
    // After a jump to a post far back, the newest posts are not loaded: they load on scrolling
    // down, and live posts wait for that.
    const [hasNewer, setHasNewer] = useState(false);
    const [newLineId, setNewLineId] = useState<string | null>(null);
    const [toast, setToast] = useState(false);
    const [flashId, setFlashId] = useState<string | null>(null);
    const [roots, setRoots] = useState<Map<string, Post>>(new Map());

    const list = useRef<HTMLDivElement>(null);
    const atBottom = useRef(true);
    const keepFrom = useRef<{ height: number; top: number } | null>(null);
    const firstScroll = useRef(false);
    const newest = useRef<string | null>(null);
    const hasNewerRef = useRef(false);
    hasNewerRef.current = hasNewer;
    const olderInFlight = useRef(false);
    const jumping = useRef<string | null>(null);
    const postsRef = useRef<Post[]>([]);
    postsRef.current = posts;

    const loadLatest = (channelId: string, lastViewedAt: number | null) => client.getPosts(channelId, 0, PAGE)
        .then((answer: PostListAnswer) => {
            const latest = mergePosts([], postsOf(answer));
            firstScroll.current = true;
            setPosts(latest);
            setHasOlder(answer.order.length >= PAGE);
            setHasNewer(false);
            setLoaded(true);
            if (lastViewedAt !== null) {
                setNewLineId(firstUnreadId(latest, lastViewedAt, me.value?.id ?? ''));
            }
        });

    useEffect(() => {
        if (!channel) {
            return undefined;
        }
        let cancelled = false;
        setPosts([]);
        setLoaded(false);
        setError('');
        setHasOlder(false);
        setHasNewer(false);
        setToast(false);
        setNewLineId(null);
        atBottom.current = true;
        newest.current = null;
        jumping.current = null;
        // Where I had read up to, before this visit marks the channel read.
        const lastViewedAt = myMembers.value.get(channel.id)?.last_viewed_at ?? null;
        loadLatest(channel.id, lastViewedAt)
            .catch((err: unknown) => !cancelled && setError(errorMessage(err)))
            .finally(() => {
                if (!cancelled) {
                    client.viewMyChannel(channel.id).catch(() => {});
                }
            });
        const unsubscribe = subscribe({
            onEvent: (message) => {
                const data = message.data ?? {};
                if ((message.event === 'posted' || message.event === 'post_edited' || message.event === 'post_deleted') && data.post) {
                    let post: Post;
                    try {
                        post = JSON.parse(data.post);
                    } catch {
                        return;
                    }
                    if (post.channel_id !== channel.id) {
                        return;
                    }
                    if (message.event === 'posted') {
                        if (!hasNewerRef.current) {
                            setPosts((current) => addPost(current, post));
                        }
                    } else if (message.event === 'post_edited') {
                        setPosts((current) => (current.some((p) => p.id === post.id) ? mergePosts(current, [post]) : current));
                        setRoots((current) => (current.has(post.id) ? new Map(current).set(post.id, post) : current));
                    } else {
                        setPosts((current) => removePost(current, post));
                    }
                } else if ((message.event === 'reaction_added' || message.event === 'reaction_removed') && data.reaction) {
                    try {
                        const reaction = JSON.parse(data.reaction);
                        setPosts((current) => applyReaction(current, reaction, message.event === 'reaction_added'));
                    } catch {
                        // Not a reaction: nothing to show.
                    }
                }
            },
            // What this page may have missed while it was not connected: the posts made,
            // edited or deleted since the newest change it knows of.
            onResync: () => {
                const known = postsRef.current;
                if (hasNewerRef.current) {
                    return;
                }
                if (known.length === 0) {
                    loadLatest(channel.id, null).catch(() => {});
                    return;
                }
                const since = Math.max(...known.map((p) => Math.max(p.update_at ?? 0, p.create_at)));
                client.getPostsSince(channel.id, since - 1000).then((answer: PostListAnswer) => {
                    setPosts((current) => applyChanges(current, postsOf(answer)));
                }).catch(() => {});
            },
        });
        return () => {
            cancelled = true;
            unsubscribe();
        };
    }, [channel?.id]);

    // The authors of what is shown, fetched once each, with their presence.
    useEffect(() => {
        const authors = [...new Set(posts.map((post) => post.user_id))];
        const missing = authors.filter((id) => !users.value.has(id));
        if (missing.length > 0) {
            client.getProfilesByIds(missing).then((profiles: User[]) => rememberUsers(profiles)).catch(() => {});
        }
        ensureStatuses(authors);
        // Roots of the replies shown whose root is not loaded ("Commented on …").
        const loadedIds = new Set(posts.map((post) => post.id));
        const missingRoots = [...new Set(posts.map((post) => post.root_id).filter((id): id is string => Boolean(id)))]
            .filter((id) => !loadedIds.has(id) && !roots.has(id));
        if (missingRoots.length > 0) {
            client.getPostsByIds(missingRoots)
                .then((found: Post[]) => setRoots((current) => {
                    const next = new Map(current);
                    for (const root of found) {
                        next.set(root.id, root);
                    }
                    return next;
                }))
                .catch(() => {});
        }
    }, [posts]);

    // Scrolling: open at the bottom (or at the new messages line when the unread posts are
    // more than a screen), keep the place when older posts are added above, follow new posts
    // while at the bottom, else offer the notice.
    useLayoutEffect(() => {
        const el = list.current;
        if (!el) {
            return;
        }
        const last = posts.length > 0 ? posts[posts.length - 1].id : null;
        if (keepFrom.current) {
            el.scrollTop = keepFrom.current.top + (el.scrollHeight - keepFrom.current.height);
            keepFrom.current = null;
        } else if (firstScroll.current && posts.length > 0) {
            firstScroll.current = false;
            el.scrollTop = el.scrollHeight;
            const line = el.querySelector<HTMLElement>('.new-messages-line');
            if (line && line.offsetTop - el.offsetTop < el.scrollTop) {
                el.scrollTop = line.offsetTop - el.offsetTop - 16;
            }
            atBottom.current = el.scrollHeight - el.scrollTop - el.clientHeight < AT_BOTTOM_WITHIN;
        } else if (atBottom.current) {
            el.scrollTop = el.scrollHeight;
        } else if (last && last !== newest.current && newest.current !== null) {
            const post = posts[posts.length - 1];
            if (post.user_id !== me.value?.id) {
                setToast(true);
            }
        }
        newest.current = last;
    }, [posts]);

    // Content that grows by itself (an image loading) keeps the view at the bottom when it was.
    useEffect(() => {
        const el = list.current;
        const inner = el?.firstElementChild;
        if (!el || !inner || typeof ResizeObserver === 'undefined') {
            return undefined;
        }
        const observer = new ResizeObserver(() => {
            if (atBottom.current && !keepFrom.current) {
                el.scrollTop = el.scrollHeight;
            }
        });
        observer.observe(inner);
        return () => observer.disconnect();
    }, [channel?.id]);

    const loadOlder = () => {
        if (!channel || olderInFlight.current || !hasOlder || posts.length === 0) {
            return;
        }
        const el = list.current!;
        const channelId = channel.id;
        olderInFlight.current = true;
        setLoadingOlder(true);
        client.getPostsBefore(channelId, posts[0].id, 0, PAGE)
            .then((answer: PostListAnswer) => {
                if (currentChannelId.value !== channelId) {
                    return;
                }
                keepFrom.current = { height: el.scrollHeight, top: el.scrollTop };
                setPosts((current) => mergePosts(current, postsOf(answer)));
                setHasOlder(answer.order.length >= PAGE);
            })
            .catch((err: unknown) => setError(errorMessage(err)))
            .finally(() => {
                olderInFlight.current = false;
                setLoadingOlder(false);
            });
    };

    const loadNewer = () => {
        if (!channel || !hasNewer || posts.length === 0) {
            return;
        }
        const channelId = channel.id;
        setHasNewer(false);
        client.getPostsAfter(channelId, posts[posts.length - 1].id, 0, PAGE)
            .then((answer: PostListAnswer) => {
                setPosts((current) => mergePosts(current, postsOf(answer)));
                setHasNewer(answer.order.length >= PAGE);
            })
            .catch((err: unknown) => { setHasNewer(true); setError(errorMessage(err)); });
    };

    const onScroll = () => {
        const el = list.current!;
        atBottom.current = el.scrollHeight - el.scrollTop - el.clientHeight < AT_BOTTOM_WITHIN;
        if (atBottom.current) {
            setToast(false);
            if (hasNewer) {
                loadNewer();
            }
        }
        if (el.scrollTop < LOAD_OLDER_WITHIN) {
            loadOlder();
        }
    };

    const scrollToBottom = () => {
        const el = list.current;
        if (hasNewer && channel) {
            loadLatest(channel.id, null).catch((err: unknown) => setError(errorMessage(err)));
        }
        if (el) {
            el.scrollTop = el.scrollHeight;
        }
        atBottom.current = true;
        setToast(false);
    };

    // A post to jump to: shown, or loaded with the posts around it.
    const target = highlightPostId.value;
    useEffect(() => {
        if (!target || !channel || !loaded) {
            return;
        }
        const el = document.getElementById(`post_${target}`);
        if (el && posts.some((post) => post.id === target)) {
            el.scrollIntoView({ block: 'center' });
            jumping.current = null;
            atBottom.current = false;
            setFlashId(target);
            highlightPostId.value = null;
            setTimeout(() => setFlashId((current) => (current === target ? null : current)), 3000);
            return;
        }
        if (posts.some((post) => post.id === target) || jumping.current === target) {
            return; // Rendered on the next pass, or being loaded.
        }
        jumping.current = target;
        const channelId = channel.id;
        client.getPost(target).then(async (found: Post) => {
            if (found.channel_id !== channelId) {
                jumping.current = null;
                return; // Another channel: shown once that channel is open.
            }
            const [before, after]: PostListAnswer[] = await Promise.all([
                client.getPostsBefore(channelId, target, 0, AROUND), client.getPostsAfter(channelId, target, 0, AROUND),
            ]);
            if (currentChannelId.value !== channelId) {
                return;
            }
            setPosts(mergePosts([], [...postsOf(before), found, ...postsOf(after)]));
            setHasOlder(before.order.length >= AROUND);
            setHasNewer(after.order.length >= AROUND);
        }).catch((err: unknown) => {
            jumping.current = null;
            highlightPostId.value = null;
            setError(errorMessage(err));
        });
    }, [target, channel?.id, loaded, posts]);

    const sent = new Set(posts.map((post) => post.pending_post_id).filter(Boolean));
    const waiting = [...pending.value.values()]
        .filter((entry) => entry.post.channel_id === channel?.id && !entry.post.root_id && !sent.has(entry.post.pending_post_id));
    const byId = new Map(posts.map((post) => [post.id, post]));
    const rows = layoutPosts(posts, newLineId);

    const changed = (post: Post) => setPosts((current) => mergePosts(current, [post]));
    const deleted = (post: Post) => setPosts((current) => removePost(current, post));

    return (
        <main id="channel_view">
            <header class="channel-header">
                <h2 id="channelHeaderTitle">{channel?.display_name ?? channelName}</h2>
                {channel?.purpose && <span class="channel-purpose muted">{channel.purpose}</span>}
            </header>
            {error && <div class="error channel-error" role="alert">{error}<button type="button" class="close" onClick={() => setError('')}>×</button></div>}
            <div class="post-list" ref={list} onScroll={onScroll} id="postListContent">
                <div class="post-list-inner">
                    {loaded && !hasOlder && (
                        <div class="channel-intro" id="channelIntro">
                            <h3>Beginning of {channel?.display_name ?? channelName}</h3>
                            <p class="muted">{channel?.purpose || 'This is the start of the conversation. Say hello!'}</p>
                        </div>
                    )}
                    {hasOlder && <div class="loading-older muted">{loadingOlder ? 'Loading older messages…' : ''}</div>}
                    {!loaded && !error && <div class="muted loading">Loading…</div>}
                    {rows.map((row) => {
                        if (row.kind === 'date') {
                            return <div class="date-separator" key={row.key}><span>{row.label}</span></div>;
                        }
                        if (row.kind === 'new') {
                            return <div class="new-messages-line" id="newMessagesLine" key={row.key}><span>New Messages</span></div>;
                        }
                        const { post } = row;
                        return (
                            <PostItem key={post.id} post={post} consecutive={row.consecutive}
                                root={post.root_id ? byId.get(post.root_id) ?? roots.get(post.root_id) : undefined}
                                highlighted={flashId === post.id} onChanged={changed} onDeleted={deleted} />
                        );
                    })}
                    {waiting.map((entry) => (
                        <div class={`post pending ${entry.state}`} key={entry.post.pending_post_id}>
                            <div class="post-text">{entry.post.message}</div>
                            <div class="muted">{entry.state === 'sending' ? 'Sending…' : `Not sent: ${entry.error}`}</div>
                        </div>
                    ))}
                </div>
            </div>
            {(toast || hasNewer) && (
                <button type="button" class="new-messages-toast" id="newMessagesToast" onClick={scrollToBottom}>
                    {toast ? 'New messages below ↓' : 'Jump to recent messages ↓'}
                </button>
            )}
            {channel && (
                <Composer id="post_textbox" channelId={channel.id} placeholder={`Write to ${channel.display_name}`}
                    onSent={(created) => {
                        if (hasNewerRef.current) {
                            scrollToBottom();
                        } else {
                            atBottom.current = true;
                            setPosts((current) => addPost(current, created));
                        }
                    }} />
            )}
            {channel && <TypingIndicator channelId={channel.id} />}
        </main>
    );
}
