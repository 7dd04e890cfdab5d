// "Find channel" (Ctrl+K / ⌘K, as in Mattermost and Slack): type part of a channel's or a
// person's name, pick with ↑/↓ and Enter; unread channels come first.

import { useState } from 'preact/hooks';
import { isUnread } from '../logic/unreads';
import { Channel, channels, currentTeam, myMembers, navigate } from '../state';
import { channelPath, LockIcon, shownName } from './ChannelSidebar';
import { Modal } from './Modal';

export function ChannelSwitcher({ onClose }: { onClose: () => void }) {
    const [term, setTerm] = useState('');
    const [selected, setSelected] = useState(0);
    const needle = term.trim().toLowerCase().replace(/^[@#~]/, '');
    const members = myMembers.value;
    const found: Channel[] = [...channels.value.values()]
        .filter((c) => !c.delete_at)
        .filter((c) => !needle || shownName(c).toLowerCase().includes(needle) || c.name.toLowerCase().includes(needle))
        .sort((a, b) => Number(isUnread(b, members.get(b.id))) - Number(isUnread(a, members.get(a.id)))
            || (b.last_post_at ?? 0) - (a.last_post_at ?? 0))
        .slice(0, 20);
    const open = (channel: Channel | undefined) => {
        const team = currentTeam.value;
        if (!channel || !team) {
            return;
        }
        onClose();
        navigate(channelPath(team.name, channel));
    };
    const index = Math.min(selected, Math.max(0, found.length - 1));
    return (
        <Modal id="quickSwitchModal" title="Find channels" onClose={onClose}>
            <input id="quickSwitchInput" class="modal-search" type="text" autoFocus autoComplete="off"
                placeholder="Type a channel or a person's name" value={term}
                onInput={(e) => { setTerm((e.target as HTMLInputElement).value); setSelected(0); }}
                onKeyDown={(e) => {
                    if (e.key === 'ArrowDown') {
                        e.preventDefault();
                        setSelected((index + 1) % Math.max(1, found.length));
                    } else if (e.key === 'ArrowUp') {
                        e.preventDefault();
                        setSelected((index - 1 + found.length) % Math.max(1, found.length));
                    } else if (e.key === 'Enter') {
                        e.preventDefault();
                        open(found[index]);
                    }
                }} />
            <ul class="switch-list" role="listbox">
                {found.map((c, i) => (
                    <li key={c.id} role="option" aria-selected={i === index} id={`switchChannel_${c.name}`}
                        class={[i === index ? 'selected' : '', isUnread(c, members.get(c.id)) ? 'unread' : ''].filter(Boolean).join(' ')}
                        onMouseEnter={() => setSelected(i)} onClick={() => open(c)}>
                        <span class="switch-icon">{c.type === 'D' || c.type === 'G' ? '@' : c.type === 'P' ? <LockIcon /> : '#'}</span>
                        {shownName(c)}
                    </li>
                ))}
                {found.length === 0 && <li class="muted empty">No channels match “{term}”.</li>}
            </ul>
        </Modal>
    );
}
