// @mentions in post text (for highlighting) and in the message box (for autocomplete): pure
// functions, tested in tests/unit.

/// Mentions of everyone in the channel: they notify me too.
export const CHANNEL_WIDE = ['channel', 'all', 'here'];

// A username: lowercase letters, digits, '.', '-', '_' (Mattermost's rule); an @ preceded by a
// word character is an email address, not a mention.
const MENTION = /(^|[^\w@.\-])@([a-z0-9][a-z0-9._-]*)/gi;

export type MentionPart = { text: string } | { mention: string };

/// Text split into plain parts and @mentions (the name without '@'; a trailing '.', '-' or '_'
/// ends the sentence rather than the name).
export function splitMentions(text: string): MentionPart[] {
    const parts: MentionPart[] = [];
    let last = 0;
    MENTION.lastIndex = 0;
    for (let match = MENTION.exec(text); match; match = MENTION.exec(text)) {
        let name = match[2];
        while (/[._-]$/.test(name)) {
            name = name.slice(0, -1);
        }
        const at = match.index + match[1].length;
        if (at > last) {
            parts.push({ text: text.slice(last, at) });
        }
        parts.push({ mention: name.toLowerCase() });
        last = at + 1 + name.length;
        MENTION.lastIndex = last;
    }
    if (last < text.length) {
        parts.push({ text: text.slice(last) });
    }
    return parts;
}

/// Whether `message` mentions `username` (by name, or @channel/@all/@here). Code is not
/// excluded: a close enough test for a highlight.
export function mentionsUser(message: string, username: string): boolean {
    const me = username.toLowerCase();
    return splitMentions(message).some((part) => 'mention' in part
        && (part.mention === me || CHANNEL_WIDE.includes(part.mention)));
}

/// The @word being typed at `caret` in `text`: where its '@' is and what follows it so far;
/// null when the caret is not in a mention.
export function mentionQueryAt(text: string, caret: number): { start: number; query: string } | null {
    const before = text.slice(0, caret);
    const match = before.match(/(^|[\s(])@([a-z0-9._-]*)$/i);
    if (!match) {
        return null;
    }
    return { start: before.length - match[2].length - 1, query: match[2].toLowerCase() };
}

/// `text` with the mention at `start` (up to the caret) replaced by `@username ` and where the
/// caret goes after it.
export function applyMention(text: string, caret: number, start: number, username: string): { text: string; caret: number } {
    const inserted = `@${username} `;
    const rest = text.slice(caret).replace(/^[a-z0-9._-]*/i, '').replace(/^ /, '');
    return { text: text.slice(0, start) + inserted + rest, caret: start + inserted.length };
}
