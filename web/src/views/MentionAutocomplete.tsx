// @mention autocomplete for a message box: while the word at the caret starts with '@', a list
// of matching people (GET /users/autocomplete: channel members first, then others in the team)
// and @channel/@all/@here shows above the box; ↑/↓ choose, Enter or Tab completes, Esc closes.
//
// A message box mounts it like this (Composer.tsx):
//
//     const [caret, setCaret] = useState(0);
//     const mention = useMentionAutocomplete({ value: draft, caret, channelId, teamId,
//         onComplete: (text, at) => { setDraft(text); setCaret(at); moveCaret(textarea, at); } });
//     // in onKeyDown, first:  if (mention.onKeyDown(event)) return;
//     // on input/click/keyup: setCaret(textarea.selectionStart)
//     // inside .composer (position: relative), before the textarea:  {mention.element}

import { useEffect, useState } from 'preact/hooks';
import type { JSX } from 'preact';
import { client } from '../api';
import { applyMention, CHANNEL_WIDE, mentionQueryAt } from '../logic/mentions';
import { currentTeam, rememberUsers, User } from '../state';
import type { AutocompleteProps } from './Composer';
import { Avatar } from './Avatar';

type Options = {
    value: string;
    caret: number;
    channelId: string;
    teamId: string;
    onComplete: (text: string, caret: number) => void;
};

type Item = { username: string; label: string; user?: User; special?: boolean; outside?: boolean };

const SPECIAL_LABELS: Record<string, string> = {
    channel: 'Notifies everyone in this channel', all: 'Notifies everyone in this channel', here: 'Notifies everyone online in this channel',
};

export function useMentionAutocomplete({ value, caret, channelId, teamId, onComplete }: Options): {
    onKeyDown: (event: KeyboardEvent) => boolean; element: JSX.Element | null;
} {
    const found = mentionQueryAt(value, caret);
    const query = found?.query ?? null;
    const [items, setItems] = useState<Item[]>([]);
    const [selected, setSelected] = useState(0);
    const [dismissed, setDismissed] = useState<string | null>(null);

    useEffect(() => {
        if (query === null) {
            setItems([]);
            return undefined;
        }
        let cancelled = false;
        const timer = setTimeout(() => {
            client.autocompleteUsers(query, teamId, channelId, { limit: 8 })
                .then((answer: { users?: User[]; out_of_channel?: User[] }) => {
                    if (cancelled) {
                        return;
                    }
                    const inChannel = answer.users ?? [];
                    const outside = answer.out_of_channel ?? [];
                    rememberUsers([...inChannel, ...outside]);
                    const people: Item[] = [
                        ...inChannel.map((user) => ({ username: user.username, label: fullName(user), user })),
                        ...outside.map((user) => ({ username: user.username, label: fullName(user), user, outside: true })),
                    ];
                    const special: Item[] = CHANNEL_WIDE.filter((name) => name.startsWith(query))
                        .map((name) => ({ username: name, label: SPECIAL_LABELS[name], special: true }));
                    setItems([...people.slice(0, 8), ...special]);
                    setSelected(0);
                })
                .catch(() => !cancelled && setItems([]));
        }, 120);
        return () => {
            cancelled = true;
            clearTimeout(timer);
        };
    }, [query, channelId, teamId]);

    const key = found ? `${found.start}:${query}` : null;
    const open = found !== null && items.length > 0 && dismissed !== key;

    const complete = (item: Item) => {
        const result = applyMention(value, caret, found!.start, item.username);
        onComplete(result.text, result.caret);
        setItems([]);
    };

    const onKeyDown = (event: KeyboardEvent): boolean => {
        if (!open) {
            return false;
        }
        if (event.key === 'ArrowDown' || event.key === 'ArrowUp') {
            event.preventDefault();
            const step = event.key === 'ArrowDown' ? 1 : -1;
            setSelected((selected + step + items.length) % items.length);
            return true;
        }
        if ((event.key === 'Enter' && !event.shiftKey) || event.key === 'Tab') {
            event.preventDefault();
            complete(items[Math.min(selected, items.length - 1)]);
            return true;
        }
        if (event.key === 'Escape') {
            event.preventDefault();
            setDismissed(key);
            return true;
        }
        return false;
    };

    const element = open ? (
        <ul class="mention-autocomplete" id="suggestionList" role="listbox">
            {items.map((item, index) => (
                <li key={item.username} role="option" aria-selected={index === selected}
                    class={index === selected ? 'selected' : ''} data-username={item.username}
                    onMouseEnter={() => setSelected(index)}
                    onMouseDown={(e) => { e.preventDefault(); complete(item); }}>
                    {item.user ? <Avatar userId={item.user.id} size={20} showStatus={false} /> : <span class="mention-special">@</span>}
                    <span class="mention-username">@{item.username}</span>
                    <span class="muted mention-label">{item.label}</span>
                    {item.outside && <span class="muted mention-outside">not in channel</span>}
                </li>
            ))}
        </ul>
    ) : null;

    return { onKeyDown, element };
}

function fullName(user: User): string {
    const name = [user.first_name, user.last_name].filter(Boolean).join(' ');
    return user.nickname ? `${name} (${user.nickname})`.trim() : name;
}

/// The autocomplete as Composer mounts it (composerExtensions.Autocomplete, set in main.tsx).
export function MentionAutocomplete({ channelId, text, caret, setText, keys }: AutocompleteProps) {
    const mention = useMentionAutocomplete({
        value: text, caret, channelId, teamId: currentTeam.value?.id ?? '', onComplete: setText,
    });
    keys.current = mention.onKeyDown;
    return mention.element;
}
