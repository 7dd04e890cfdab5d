// A post's reactions: each emoji with its count (mine highlighted); a click adds or removes
// mine. The + button opens the emoji picker.

import { groupReactions } from '../logic/postList';
import { displayName, me, Reaction, users } from '../state';
import { EmojiGlyph } from './EmojiGlyph';

type Props = {
    postId: string;
    reactions: Reaction[] | undefined;
    onToggle: (name: string, mine: boolean) => void;
    onAdd: (anchor: DOMRect) => void;
};

export function Reactions({ postId, reactions, onToggle, onAdd }: Props) {
    const groups = groupReactions(reactions, me.value?.id ?? '');
    if (groups.length === 0) {
        return null;
    }
    return (
        <div class="reactions" id={`${postId}_reactions`}>
            {groups.map((group) => {
                const who = group.userIds.map((id) => (id === me.value?.id ? 'You' : displayName(users.value.get(id)))).join(', ');
                return (
                    <button type="button" key={group.name} class={group.mine ? 'reaction mine' : 'reaction'}
                        id={`postReaction_${postId}_${group.name}`} data-emoji={group.name} data-count={group.count}
                        aria-pressed={group.mine} title={`${who} reacted with :${group.name}:`}
                        onClick={() => onToggle(group.name, group.mine)}>
                        <span class="reaction-emoji"><EmojiGlyph name={group.name} /></span>
                        <span class="reaction-count">{group.count}</span>
                    </button>
                );
            })}
            <button type="button" class="reaction add" title="Add a reaction" aria-label="Add a reaction"
                onClick={(e) => onAdd((e.currentTarget as HTMLElement).getBoundingClientRect())}>☺+</button>
        </div>
    );
}
