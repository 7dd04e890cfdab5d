// A dialog over the page: a title, a close button, Escape or a click outside closes it.

import type { ComponentChildren } from 'preact';
import { useEffect } from 'preact/hooks';

type Props = { id: string; title: string; onClose: () => void; children: ComponentChildren; wide?: boolean };

export function Modal({ id, title, onClose, children, wide }: Props) {
    useEffect(() => {
        const onKey = (event: KeyboardEvent) => {
            if (event.key === 'Escape') {
                onClose();
            }
        };
        document.addEventListener('keydown', onKey);
        return () => document.removeEventListener('keydown', onKey);
    }, [onClose]);
    return (
        <div class="modal-backdrop" onMouseDown={(e) => { if (e.target === e.currentTarget) onClose(); }}>
            <div class={wide ? 'modal wide' : 'modal'} id={id} role="dialog" aria-modal="true" aria-label={title}>
                <header><h2>{title}</h2><button class="close" aria-label="Close" onClick={onClose}>×</button></header>
                <div class="modal-body">{children}</div>
            </div>
        </div>
    );
}
