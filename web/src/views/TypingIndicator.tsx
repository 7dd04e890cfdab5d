// "alice is typing…" under the message box, from the websocket's typing events.

import { useEffect } from 'preact/hooks';
import { client } from '../api';
import { typing, typingKey, typingText } from '../logic/typing';
import { displayName, rememberUsers, User, users } from '../state';

export function TypingIndicator({ channelId, parentId = '' }: { channelId: string; parentId?: string }) {
    const ids = [...(typing.value.get(typingKey(channelId, parentId))?.keys() ?? [])];
    const missing = ids.filter((id) => !users.value.has(id));
    useEffect(() => {
        if (missing.length > 0) {
            client.getProfilesByIds(missing).then((profiles: User[]) => rememberUsers(profiles)).catch(() => {});
        }
    }, [missing.join(',')]);
    const text = typingText(ids.map((id) => displayName(users.value.get(id))));
    return (
        <div class={parentId ? 'typing-indicator rhs' : 'typing-indicator'} id={parentId ? 'rhsTypingIndicator' : 'typingIndicator'}
            aria-live="polite">{text}</div>
    );
}
