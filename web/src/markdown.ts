// Post text as Markdown, sanitised: marked renders it, DOMPurify keeps only safe HTML (no
// scripts, no event handlers, no javascript: links).

import { marked } from 'marked';
import DOMPurify from 'dompurify';

marked.setOptions({ gfm: true, breaks: true });

export function renderMarkdown(text: string): string {
    const html = marked.parse(text, { async: false }) as string;
    return DOMPurify.sanitize(html, { USE_PROFILES: { html: true } });
}
