// A message box: #post_textbox in the channel, #reply_textbox in a thread. Enter sends,
// Shift+Enter is a new line. Sending goes through the outbox, so a post made while the server
// is unreachable is retried with its pending_post_id and made once; what was typed is never
// lost (it comes back into the box if the server refuses the post).

import { useState } from 'preact/hooks';
import { errorMessage, pendingPostId } from '../api';
import { sendPost } from '../logic/outbox';
import { me, Post } from '../state';

type Props = {
    id: 'post_textbox' | 'reply_textbox';
    channelId: string;
    rootId?: string;
    placeholder: string;
    /// Called with the server's post once it is made.
    onSent?: (post: Post) => void;
};

export function Composer({ id, channelId, rootId, placeholder, onSent }: Props) {
    const [draft, setDraft] = useState('');
    const [error, setError] = useState('');

    const send = async () => {
        const message = draft.trim();
        if (!message || !me.value) {
            return;
        }
        setDraft('');
        setError('');
        try {
            const created = await sendPost({
                id: '', create_at: Date.now(), user_id: me.value.id, channel_id: channelId,
                root_id: rootId ?? '', message, pending_post_id: pendingPostId(me.value.id),
            });
            onSent?.(created);
        } catch (err) {
            setDraft((current) => (current ? current : message));
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
        <div class="composer">
            {error && <div class="error">{error}</div>}
            <textarea id={id} rows={2} placeholder={placeholder}
                value={draft} onInput={(e) => setDraft((e.target as HTMLTextAreaElement).value)}
                onKeyDown={onKeyDown} />
        </div>
    );
}
