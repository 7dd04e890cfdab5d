// Search results for #searchBox's terms in the right-hand pane: the current team's posts that
// match (the server parses words, "phrases", from:, in:, -excluded, prefix*), newest first,
// each with its channel, author, time and text with the matched terms marked. Clicking a
// result (or Jump) opens its channel and shows the post there (highlightPostId).

import { useEffect, useState } from 'preact/hooks';
import { client, errorMessage } from '../api';
import { highlight, highlightTerms } from '../logic/search';
import { postsOf } from '../logic/posts';
import { Channel, channels, currentTeam, displayName, highlightPostId, navigate, Post, rememberUsers, rightPane, teams, User, users } from '../state';
import { channelPath, shownName } from './ChannelSidebar';

function when(at: number): string {
    const date = new Date(at);
    const today = new Date();
    const sameDay = date.toDateString() === today.toDateString();
    const time = date.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
    return sameDay ? `Today ${time}` : `${date.toLocaleDateString([], { month: 'short', day: 'numeric', year: date.getFullYear() === today.getFullYear() ? undefined : 'numeric' })} ${time}`;
}

export function SearchResults({ terms }: { terms: string }) {
    // The results with the query they answer: a new query shows "Searching…", never the
    // previous query's results.
    const [answer, setAnswer] = useState<{ terms: string; posts: Post[] } | null>(null);
    const results = answer && answer.terms === terms ? answer.posts : null;
    const [error, setError] = useState('');
    const [extraChannels, setExtraChannels] = useState<Map<string, Channel>>(new Map());
    const team = currentTeam.value;

    useEffect(() => {
        if (!team) {
            return undefined;
        }
        let cancelled = false;
        setAnswer(null);
        setError('');
        client.searchPostsWithParams(team.id, {
            terms, is_or_search: false, include_deleted_channels: false,
            time_zone_offset: -new Date().getTimezoneOffset() * 60, page: 0, per_page: 60,
        }).then((found: any) => {
            if (cancelled) {
                return;
            }
            const posts = postsOf(found);
            setAnswer({ terms, posts });
            const authors = [...new Set(posts.map((p) => p.user_id))].filter((id) => !users.value.has(id));
            if (authors.length > 0) {
                client.getProfilesByIds(authors).then((profiles: User[]) => rememberUsers(profiles)).catch(() => {});
            }
            const unknown = [...new Set(posts.map((p) => p.channel_id))].filter((id) => !channels.value.has(id));
            Promise.all(unknown.map((id) => client.getChannel(id).catch(() => null))).then((list: (Channel | null)[]) => {
                if (!cancelled) {
                    setExtraChannels(new Map(list.filter((c): c is Channel => !!c).map((c) => [c.id, c])));
                }
            });
        }).catch((err: unknown) => !cancelled && setError(errorMessage(err)));
        return () => {
            cancelled = true;
        };
    }, [terms, team?.id, rightPane.value]);  // (a new search of the same terms runs again)

    const marks = highlightTerms(terms);
    const channelOf = (post: Post) => channels.value.get(post.channel_id) ?? extraChannels.get(post.channel_id);
    const jump = (post: Post) => {
        const channel = channelOf(post);
        if (!channel || !team) {
            return;
        }
        const teamName = channel.team_id && channel.team_id !== team.id
            ? teams.value.find((t) => t.id === channel.team_id)?.name ?? team.name
            : team.name;
        highlightPostId.value = post.id;
        navigate(channelPath(teamName, channel));
    };

    return (
        <div class="search-results" id="searchContainer">
            <header>
                <h3>Search results <span class="muted search-terms">for “{terms}”</span></h3>
                <button class="close" aria-label="Close" onClick={() => { rightPane.value = null; }}>×</button>
            </header>
            <div class="search-list">
                {error && <div class="error" id="searchError">{error}</div>}
                {!error && results === null && <div class="muted empty">Searching…</div>}
                {results !== null && results.length === 0 && (
                    <div class="empty" id="noResults"><strong>No results for “{terms}”</strong>
                        <div class="muted">Check the spelling, or try words, "a phrase", from:username or in:channel.</div></div>
                )}
                {results !== null && results.length > 0 && <div class="muted result-count">{results.length === 60 ? '60+' : results.length} result{results.length === 1 ? '' : 's'}</div>}
                {results?.map((post) => {
                    const channel = channelOf(post);
                    const label = channel ? (channel.type === 'D' ? `@${shownName(channel)}` : channel.type === 'G' ? shownName(channel) : `${channel.type === 'P' ? '' : '# '}${channel.display_name}`) : '…';
                    return (
                        <div class="search-item" key={post.id} id={`searchResult_${post.id}`} data-testid="search-item-container"
                            role="button" tabIndex={0} onClick={() => jump(post)}
                            onKeyDown={(e) => { if (e.key === 'Enter') jump(post); }}>
                            <div class="search-channel">{label}</div>
                            <div class="post">
                                <img class="avatar" alt="" src={`/api/v4/users/${post.user_id}/image`} />
                                <div class="post-body">
                                    <div class="post-header">
                                        <span class="post-author">{displayName(users.value.get(post.user_id))}</span>
                                        <span class="post-time">{when(post.create_at)}</span>
                                        <a class="jump" href="#" id={`searchResultJump_${post.id}`} onClick={(e) => { e.preventDefault(); e.stopPropagation(); jump(post); }}>Jump</a>
                                    </div>
                                    <div class="search-text" id={`searchResultText_${post.id}`}>
                                        {highlight(post.message, marks).map((segment, i) => segment.match
                                            ? <mark key={i} class="search-highlight">{segment.text}</mark>
                                            : segment.text)}
                                    </div>
                                </div>
                            </div>
                        </div>
                    );
                })}
            </div>
        </div>
    );
}
