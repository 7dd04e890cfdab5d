// #rhsContainer: a thread (ThreadPane) or search results (SearchResults), beside the channel.

import { rightPane } from '../state';
import { SearchResults } from './SearchResults';
import { ThreadPane } from './ThreadPane';

export function RightPane() {
    const pane = rightPane.value;
    if (!pane) {
        return null;
    }
    return (
        <aside id="rhsContainer">
            {pane.kind === 'thread' ? <ThreadPane rootId={pane.rootId} /> : <SearchResults terms={pane.terms} />}
        </aside>
    );
}
