// A thread: its root post, the replies, live, and #reply_textbox.

import { rightPane } from '../state';

export function ThreadPane({ rootId }: { rootId: string }) {
    return (
        <div class="thread-pane">
            <header><h3>Thread</h3><button class="close" onClick={() => { rightPane.value = null; }}>×</button></header>
            <div class="muted">{rootId}</div>
        </div>
    );
}
