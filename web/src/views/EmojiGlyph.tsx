// An emoji by name: the standard emoji from the table, a custom emoji's image (looked up by
// name once per page), or `:name:` when neither is known.

import { signal } from '@preact/signals';
import { useEffect } from 'preact/hooks';
import { client } from '../api';
import { emojiFor } from '../logic/emoji';

/// Custom emoji ids by name; null when the server has none of that name.
const customIds = signal<Map<string, string | null>>(new Map());
const asked = new Set<string>();

function lookUp(name: string) {
    if (asked.has(name)) {
        return;
    }
    asked.add(name);
    client.getCustomEmojiByName(name)
        .then((emoji: { id: string }) => { customIds.value = new Map(customIds.value).set(name, emoji.id); })
        .catch(() => { customIds.value = new Map(customIds.value).set(name, null); });
}

export function EmojiGlyph({ name, size = 18 }: { name: string; size?: number }) {
    const standard = emojiFor(name);
    useEffect(() => {
        if (!standard) {
            lookUp(name);
        }
    }, [name, standard]);
    if (standard) {
        return <span class="emoji-glyph">{standard}</span>;
    }
    const id = customIds.value.get(name);
    if (id) {
        return <img class="emoji-custom" src={client.getCustomEmojiImageUrl(id)} alt={`:${name}:`} title={`:${name}:`} width={size} height={size} />;
    }
    return <span class="emoji-unknown">:{name}:</span>;
}
