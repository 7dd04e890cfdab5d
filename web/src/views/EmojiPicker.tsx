// The emoji picker: a search box (#emojiPickerSearch), the recently used row, and the standard
// emoji by category. Opened from a post's reaction button; picks call onPick(name).

import { useEffect, useRef, useState } from 'preact/hooks';
import { CATEGORIES, emojiFor, recentEmoji, searchEmoji } from '../logic/emoji';

type Props = {
    /// The button it opened from: the picker shows beside it, inside the window.
    anchor: DOMRect;
    onPick: (name: string) => void;
    onClose: () => void;
};

const WIDTH = 340;
const HEIGHT = 380;

function EmojiButton({ name, onPick, onHover }: { name: string; onPick: (name: string) => void; onHover: (name: string) => void }) {
    return (
        <button type="button" class="emoji-item" data-emoji={name} title={`:${name}:`} aria-label={name}
            onMouseEnter={() => onHover(name)} onFocus={() => onHover(name)} onClick={() => onPick(name)}>
            {emojiFor(name) ?? `:${name}:`}
        </button>
    );
}

export function EmojiPicker({ anchor, onPick, onClose }: Props) {
    const [query, setQuery] = useState('');
    const [hovered, setHovered] = useState('');
    const box = useRef<HTMLDivElement>(null);

    useEffect(() => {
        const onDown = (event: MouseEvent) => {
            if (box.current && !box.current.contains(event.target as Node)) {
                onClose();
            }
        };
        const onKey = (event: KeyboardEvent) => {
            if (event.key === 'Escape') {
                onClose();
            }
        };
        document.addEventListener('mousedown', onDown);
        document.addEventListener('keydown', onKey);
        return () => {
            document.removeEventListener('mousedown', onDown);
            document.removeEventListener('keydown', onKey);
        };
    }, [onClose]);

    // Beside the button: above it when there is room, else below; kept inside the window.
    const top = anchor.top - HEIGHT - 6 > 8 ? anchor.top - HEIGHT - 6 : Math.min(anchor.bottom + 6, window.innerHeight - HEIGHT - 8);
    const left = Math.max(8, Math.min(anchor.right - WIDTH, window.innerWidth - WIDTH - 8));
    const results = query.trim() ? searchEmoji(query, 200) : null;

    return (
        <div id="emojiPicker" class="emoji-picker" ref={box} role="dialog" aria-label="Emoji picker"
            style={{ top: `${Math.max(8, top)}px`, left: `${left}px`, width: `${WIDTH}px`, height: `${HEIGHT}px` }}>
            <input id="emojiPickerSearch" type="text" placeholder="Search emoji" autoFocus autoComplete="off"
                value={query} onInput={(e) => setQuery((e.target as HTMLInputElement).value)}
                onKeyDown={(e) => {
                    if (e.key === 'Enter' && results && results.length > 0) {
                        e.preventDefault();
                        onPick(results[0]);
                    }
                }} />
            <div class="emoji-scroll">
                {results ? (
                    results.length > 0 ? (
                        <div class="emoji-grid">
                            {results.map((name) => <EmojiButton key={name} name={name} onPick={onPick} onHover={setHovered} />)}
                        </div>
                    ) : <div class="muted emoji-empty">No emoji found for “{query}”</div>
                ) : (
                    <>
                        <div class="emoji-category">Recently used</div>
                        <div class="emoji-grid emoji-recent">
                            {recentEmoji.value.map((name) => <EmojiButton key={name} name={name} onPick={onPick} onHover={setHovered} />)}
                        </div>
                        {CATEGORIES.map((category) => (
                            <div key={category.name}>
                                <div class="emoji-category">{category.name}</div>
                                <div class="emoji-grid">
                                    {category.emoji.map((name) => <EmojiButton key={name} name={name} onPick={onPick} onHover={setHovered} />)}
                                </div>
                            </div>
                        ))}
                    </>
                )}
            </div>
            <div class="emoji-preview">
                {hovered ? <><span class="emoji-preview-char">{emojiFor(hovered)}</span> :{hovered}:</> : <span class="muted">Pick an emoji</span>}
            </div>
        </div>
    );
}
