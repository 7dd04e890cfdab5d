// Post text as Markdown, sanitised: marked renders it, DOMPurify keeps only safe HTML (no
// scripts, no event handlers, no javascript: links). Then, outside code and links, `:name:`
// shortcodes become emoji and @mentions are highlighted (mine, and @channel/@all/@here, more
// strongly). Links open in a new tab.

import { marked } from 'marked';
import DOMPurify from 'dompurify';
import { splitShortcodes } from './logic/emoji';
import { CHANNEL_WIDE, splitMentions } from './logic/mentions';

marked.setOptions({ gfm: true, breaks: true });

DOMPurify.addHook('afterSanitizeAttributes', (node) => {
    if (node.tagName === 'A' && node.getAttribute('href')) {
        node.setAttribute('target', '_blank');
        node.setAttribute('rel', 'noopener noreferrer');
    }
});

function decorate(root: Node, myUsername: string) {
    const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
    const texts: Text[] = [];
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
        if (!(node.parentElement?.closest('code, pre, a'))) {
            texts.push(node as Text);
        }
    }
    for (const node of texts) {
        const value = node.data;
        if (!value.includes(':') && !value.includes('@')) {
            continue;
        }
        const fragment = document.createDocumentFragment();
        let changed = false;
        for (const part of splitShortcodes(value)) {
            if ('emoji' in part) {
                const span = document.createElement('span');
                span.className = 'emoji';
                span.title = `:${part.name}:`;
                span.textContent = part.emoji;
                fragment.append(span);
                changed = true;
                continue;
            }
            for (const piece of splitMentions(part.text)) {
                if ('mention' in piece) {
                    const span = document.createElement('span');
                    const mine = piece.mention === myUsername || CHANNEL_WIDE.includes(piece.mention);
                    span.className = mine ? 'mention mention--me' : 'mention';
                    span.dataset.mention = piece.mention;
                    span.textContent = `@${piece.mention}`;
                    fragment.append(span);
                    changed = true;
                } else {
                    fragment.append(piece.text);
                }
            }
        }
        if (changed) {
            node.replaceWith(fragment);
        }
    }
}

const cache = new Map<string, string>();
const CACHE_MAX = 2000;

/// The HTML of `text`; `myUsername` (lowercase) gets the strong mention highlight.
export function renderMarkdown(text: string, myUsername = ''): string {
    const key = `${myUsername}\u0000${text}`;
    const cached = cache.get(key);
    if (cached !== undefined) {
        return cached;
    }
    const html = marked.parse(text, { async: false }) as string;
    const fragment = DOMPurify.sanitize(html, { USE_PROFILES: { html: true }, RETURN_DOM_FRAGMENT: true });
    decorate(fragment, myUsername.toLowerCase());
    const container = document.createElement('div');
    container.append(fragment);
    const out = container.innerHTML;
    if (cache.size >= CACHE_MAX) {
        cache.delete(cache.keys().next().value!);
    }
    cache.set(key, out);
    return out;
}
