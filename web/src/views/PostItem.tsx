// One post: avatar, author, time, the Markdown text (#postMessageText_{id}) and its actions
// (#CENTER_commentIcon_{id} opens the thread in the right-hand pane). `location` is where it
// is shown: CENTER (the channel) or RHS (the thread pane), as in Mattermost's ids.

import { renderMarkdown } from '../markdown';
import { displayName, Post, rightPane, users } from '../state';
import { PostFiles } from './PostFiles';

type Props = { post: Post; location?: 'CENTER' | 'RHS' };

export function PostItem({ post, location = 'CENTER' }: Props) {
    const rootId = post.root_id || post.id;
    return (
        <div class="post" id={location === 'CENTER' ? `post_${post.id}` : `rhsPost_${post.id}`}>
            <img class="avatar" alt="" src={`/api/v4/users/${post.user_id}/image`} />
            <div class="post-body">
                <div class="post-header">
                    <span class="post-author">{displayName(users.value.get(post.user_id))}</span>
                    <span class="post-time">{new Date(post.create_at).toLocaleTimeString()}</span>
                </div>
                <div class="post-text" id={location === 'CENTER' ? `postMessageText_${post.id}` : `rhsPostMessageText_${post.id}`}
                    dangerouslySetInnerHTML={{ __html: renderMarkdown(post.message) }} />
                <PostFiles post={post} />
            </div>
            {location === 'CENTER' && (
                <div class="post-actions">
                    <button id={`CENTER_commentIcon_${post.id}`} title="Reply"
                        onClick={() => { rightPane.value = { kind: 'thread', rootId }; }}>↩</button>
                </div>
            )}
        </div>
    );
}
