// What a search matched, for highlighting results (tested in tests/unit/search.test.ts). The
// server parses the query (terms, "phrases", from:, in:, -excluded, prefix*); the page only
// needs the words and phrases to mark in each result.

/// The words and phrases of a search query to highlight: from:/in:/on:/before:/after: and
/// excluded (-word) terms are not text to find; a trailing * is a prefix.
export function highlightTerms(query: string): string[] {
    const terms: string[] = [];
    const pattern = /"([^"]+)"|(\S+)/g;
    let match: RegExpExecArray | null;
    while ((match = pattern.exec(query)) !== null) {
        if (match[1] !== undefined) {
            const phrase = match[1].trim();
            if (phrase) {
                terms.push(phrase);
            }
            continue;
        }
        const word = match[2];
        if (/^(from|in|on|before|after|channel):/i.test(word) || word.startsWith('-')) {
            continue;
        }
        const cleaned = word.replace(/^#/, '').replace(/[.,;:!?]+$/, '');
        if (cleaned && cleaned !== '*') {
            terms.push(cleaned);
        }
    }
    return terms;
}

export type Segment = { text: string; match: boolean };

function escapeRegExp(text: string): string {
    return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/// Splits `text` into plain and matched segments (case-insensitive; a term ending in * matches
/// any word starting with it; whole terms otherwise match at word starts).
export function highlight(text: string, terms: string[]): Segment[] {
    const parts = terms.filter(Boolean).map((term) => term.endsWith('*')
        ? `${escapeRegExp(term.slice(0, -1))}[\\p{L}\\p{N}_]*`
        : escapeRegExp(term));
    if (parts.length === 0) {
        return [{ text, match: false }];
    }
    parts.sort((a, b) => b.length - a.length);
    const pattern = new RegExp(`(?<![\\p{L}\\p{N}_])(${parts.join('|')})`, 'giu');
    const segments: Segment[] = [];
    let last = 0;
    for (const found of text.matchAll(pattern)) {
        const at = found.index ?? 0;
        if (found[0].length === 0) {
            continue;
        }
        if (at > last) {
            segments.push({ text: text.slice(last, at), match: false });
        }
        segments.push({ text: found[0], match: true });
        last = at + found[0].length;
    }
    if (last < text.length) {
        segments.push({ text: text.slice(last), match: false });
    }
    return segments;
}
