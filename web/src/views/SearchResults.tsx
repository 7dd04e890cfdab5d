// Search results for #searchBox's terms; each result jumps to its post.

import { rightPane } from '../state';

export function SearchResults({ terms }: { terms: string }) {
    return (
        <div class="search-results">
            <header><h3>Search results for “{terms}”</h3><button class="close" onClick={() => { rightPane.value = null; }}>×</button></header>
        </div>
    );
}
