// One post: avatar with presence, author, time, the Markdown text (#postMessageText_{id}),
// "(edited)", reactions, and its actions: #CENTER_reaction_{id} (emoji picker),
// #CENTER_commentIcon_{id} (opens the thread in the right-hand pane) and the "…" menu
// (#CENTER_button_{id}) with Edit (inline editor #edit_textbox: Enter saves, Esc cancels) and
// Delete (with a confirmation) for my own posts. `location` is where it is shown: CENTER (the
// channel) or RHS (the thread pane), as in Mattermost's ids.

import { useEffect, useRef, useState } from 'preact/hooks';
import { client, errorMessage } from '../api';
import { rememberEmojiUse } from '../logic/emoji';
import { mentionsUser } from '../logic/mentions';
import { applyReaction } from '../logic/postList';
import { renderMarkdown } from '../markdown';
import { displayName, me, Post, rightPane, users } from '../state';
import { Avatar } from './Avatar';
import { PostFiles } from './PostFiles';
import { EmojiPicker } from './EmojiPicker';
import { Reactions } from './Reactions';

type Props = {
    post: Post;
    location?: 'CENTER' | 'RHS';
    /// Continues the previous post's author: no avatar or header.
    consecutive?: boolean;
    /// For a reply shown in the channel: its root post, when known ("Commented on …").
    root?: Post;
    /// Flash it (a search result or permalink jumped here).
    highlighted?: boolean;
    /// The server's newer copy of the post (after an edit or a reaction of mine).
    onChanged?: (post: Post) => void;
    /// The post was deleted.
    onDeleted?: (post: Post) => void;
};

const time = (at: number) => new Date(at).toLocaleTimeString([], { hour: 'numeric', minute: '2-digit' });

function plainExcerpt(message: string): string {
    const text = message.replace(/[`*_>#~[\]()!]/g, '').replace(/\s+/g, ' ').trim();
    return text.length > 80 ? `${text.slice(0, 80)}…` : text;
}

export function PostItem({ post, location = 'CENTER', consecutive = false, root, highlighted = false, onChanged, onDeleted }: Props) {
    const [menuOpen, setMenuOpen] = useState(false);
    const [editing, setEditing] = useState(false);
    const [draft, setDraft] = useState('');
    const [confirmDelete, setConfirmDelete] = useState(false);
    const [picker, setPicker] = useState<DOMRect | null>(null);
    const [error, setError] = useState('');
    const [busy, setBusy] = useState(false);
    const editBox = useRef<HTMLTextAreaElement>(null);

    const myId = me.value?.id ?? '';
    const myUsername = me.value?.username ?? '';
    const mine = post.user_id === myId;
    const rootId = post.root_id || post.id;
    const isSystem = post.type?.startsWith('system_') ?? false;
    const mentioned = !mine && !isSystem && myUsername !== '' && mentionsUser(post.message, myUsername);

    useEffect(() => {
        if (editing && editBox.current) {
            const box = editBox.current;
            box.focus();
            box.setSelectionRange(box.value.length, box.value.length);
        }
    }, [editing]);

    useEffect(() => {
        if (!menuOpen) {
            return undefined;
        }
        const close = () => setMenuOpen(false);
        document.addEventListener('click', close);
        return () => document.removeEventListener('click', close);
    }, [menuOpen]);

    const openThread = () => {
        rightPane.value = { kind: 'thread', rootId };
    };

    const saveEdit = async () => {
        const message = draft.trim();
        if (message === '') {
            setEditing(false);
            setConfirmDelete(true);
            return;
        }
        if (message === post.message) {
            setEditing(false);
            return;
        }
        setBusy(true);
        setError('');
        try {
            const updated: Post = await client.patchPost({ id: post.id, message });
            setEditing(false);
            onChanged?.(updated);
        } catch (err) {
            setError(errorMessage(err));
        } finally {
            setBusy(false);
        }
    };

    const remove = async () => {
        setBusy(true);
        setError('');
        try {
            await client.deletePost(post.id);
            setConfirmDelete(false);
            onDeleted?.(post);
        } catch (err) {
            setError(errorMessage(err));
            setConfirmDelete(false);
        } finally {
            setBusy(false);
        }
    };

    const toggleReaction = async (name: string, hadIt: boolean) => {
        setError('');
        try {
            if (hadIt) {
                await client.removeReaction(myId, post.id, name);
                onChanged?.(applyReaction([post], { user_id: myId, post_id: post.id, emoji_name: name, create_at: 0 }, false)[0]);
            } else {
                const reaction = await client.addReaction(myId, post.id, name);
                rememberEmojiUse(name);
                onChanged?.(applyReaction([post], reaction, true)[0]);
            }
        } catch (err) {
            setError(errorMessage(err));
        }
    };

    const pick = (name: string) => {
        setPicker(null);
        const already = (post.metadata?.reactions ?? []).some((r) => r.user_id === myId && r.emoji_name === name);
        if (!already) {
            toggleReaction(name, false);
        }
    };

    const classes = ['post'];
    if (consecutive) classes.push('post--consecutive');
    if (mentioned) classes.push('post--mention');
    if (highlighted) classes.push('post--highlight');
    if (isSystem) classes.push('post--system');
    if (menuOpen || picker) classes.push('post--active');

    const author = users.value.get(post.user_id);
    const edited = (post.edit_at ?? 0) > 0;
    const replyCount = post.reply_count ?? 0;

    return (
        <div class={classes.join(' ')} id={location === 'CENTER' ? `post_${post.id}` : `rhsPost_${post.id}`} data-user-id={post.user_id}>
            <div class="post-gutter">
                {consecutive
                    ? <span class="post-time post-time--gutter">{time(post.create_at)}</span>
                    : <Avatar userId={post.user_id} />}
            </div>
            <div class="post-body">
                {!consecutive && (
                    <div class="post-header">
                        <span class="post-author">{displayName(author)}</span>
                        <time class="post-time" dateTime={new Date(post.create_at).toISOString()}
                            title={new Date(post.create_at).toLocaleString()}>{time(post.create_at)}</time>
                    </div>
                )}
                {location === 'CENTER' && post.root_id && !consecutive && (
                    <button type="button" class="commented-on" onClick={openThread}>
                        Commented on {root ? `${displayName(users.value.get(root.user_id))}'s message: ` : 'a thread'}
                        {root && <span class="commented-on-text">{plainExcerpt(root.message)}</span>}
                    </button>
                )}
                {editing ? (
                    <div class="post-edit">
                        <textarea id="edit_textbox" ref={editBox} rows={Math.min(8, Math.max(2, draft.split('\n').length))}
                            value={draft} disabled={busy}
                            onInput={(e) => setDraft((e.target as HTMLTextAreaElement).value)}
                            onKeyDown={(e) => {
                                if (e.key === 'Enter' && !e.shiftKey) {
                                    e.preventDefault();
                                    saveEdit();
                                } else if (e.key === 'Escape') {
                                    e.preventDefault();
                                    setEditing(false);
                                    setError('');
                                }
                            }} />
                        <div class="post-edit-hint muted">Enter to save · Esc to cancel
                            <button type="button" class="link" onClick={() => setEditing(false)}>Cancel</button>
                            <button type="button" class="primary small" onClick={saveEdit} disabled={busy}>Save</button>
                        </div>
                    </div>
                ) : (
                    <div class={edited ? 'post-message edited' : 'post-message'}>
                        <div class="post-text" id={location === 'CENTER' ? `postMessageText_${post.id}` : `rhsPostMessageText_${post.id}`}
                            dangerouslySetInnerHTML={{ __html: renderMarkdown(post.message, myUsername) }} />
                        {edited && <span class="post-edited" id={location === 'CENTER' ? `postEdited_${post.id}` : `rhsPostEdited_${post.id}`} title={`Edited ${new Date(post.edit_at!).toLocaleString()}`}>(edited)</span>}
                    </div>
                )}
                <PostFiles post={post} />
                {error && <div class="error small">{error}</div>}
                <Reactions postId={post.id} reactions={post.metadata?.reactions} onToggle={toggleReaction} onAdd={setPicker} />
                {location === 'CENTER' && !post.root_id && replyCount > 0 && (
                    <button type="button" class="reply-count" id={`CENTER_replyCount_${post.id}`} onClick={openThread}>
                        💬 {replyCount} {replyCount === 1 ? 'reply' : 'replies'}
                    </button>
                )}
            </div>
            {!editing && !isSystem && (
                <div class="post-actions">
                    <button type="button" id={`${location}_reaction_${post.id}`} title="Add reaction" aria-label="Add reaction"
                        onClick={(e) => setPicker((e.currentTarget as HTMLElement).getBoundingClientRect())}>☺</button>
                    {location === 'CENTER' && (
                        <button type="button" id={`CENTER_commentIcon_${post.id}`} title="Reply" aria-label="Reply" onClick={openThread}>↩</button>
                    )}
                    {mine && (
                        <button type="button" id={location === 'CENTER' ? `CENTER_button_${post.id}` : `RHS_button_${post.id}`}
                            title="More actions" aria-label="More actions" aria-expanded={menuOpen}
                            onClick={(e) => { e.stopPropagation(); setMenuOpen(!menuOpen); }}>⋯</button>
                    )}
                    {menuOpen && (
                        <ul class="post-menu" role="menu">
                            <li><button type="button" role="menuitem" id={`edit_post_${post.id}`}
                                onClick={() => { setDraft(post.message); setEditing(true); setMenuOpen(false); }}>Edit</button></li>
                            <li><button type="button" role="menuitem" class="danger" id={`delete_post_${post.id}`}
                                onClick={() => { setConfirmDelete(true); setMenuOpen(false); }}>Delete</button></li>
                        </ul>
                    )}
                </div>
            )}
            {picker && <EmojiPicker anchor={picker} onPick={pick} onClose={() => setPicker(null)} />}
            {confirmDelete && (
                <div class="modal-backdrop" onClick={(e) => { if (e.target === e.currentTarget) setConfirmDelete(false); }}>
                    <div class="modal" id="deletePostModal" role="dialog" aria-modal="true" aria-labelledby="deletePostModalLabel">
                        <h3 id="deletePostModalLabel">Delete message</h3>
                        <p>Are you sure you want to delete this message?{replyCount > 0 && !post.root_id ? ' Its replies are deleted too.' : ''} This cannot be undone.</p>
                        <div class="modal-buttons">
                            <button type="button" class="secondary" onClick={() => setConfirmDelete(false)}>Cancel</button>
                            <button type="button" class="danger-button" id="deletePostModalButton" disabled={busy}
                                autoFocus onClick={remove}>Delete</button>
                        </div>
                    </div>
                </div>
            )}
        </div>
    );
}
