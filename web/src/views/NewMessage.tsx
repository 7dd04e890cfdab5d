// "Direct messages" +: search people by name, pick one (a direct message) or several (a group
// message, up to 7 others), then open the conversation.

import { useEffect, useState } from 'preact/hooks';
import { client, errorMessage } from '../api';
import { Channel, channels, currentTeam, me, myMembers, navigate, rememberUsers, User } from '../state';
import { Modal } from './Modal';

const MAX_OTHERS = 7;

/// Puts a channel I just opened or was added to into the sidebar (read, as I am opening it).
export function addMyChannel(channel: Channel) {
    const nextChannels = new Map(channels.value);
    nextChannels.set(channel.id, { ...(channels.value.get(channel.id) ?? {}), ...channel });
    channels.value = nextChannels;
    if (!myMembers.value.has(channel.id)) {
        const nextMembers = new Map(myMembers.value);
        nextMembers.set(channel.id, {
            channel_id: channel.id, user_id: me.value!.id, msg_count: channel.total_msg_count ?? 0,
            mention_count: 0, last_viewed_at: Date.now(),
        });
        myMembers.value = nextMembers;
    }
}

export function NewMessage({ onClose }: { onClose: () => void }) {
    const [term, setTerm] = useState('');
    const [found, setFound] = useState<User[]>([]);
    const [picked, setPicked] = useState<User[]>([]);
    const [error, setError] = useState('');
    const [busy, setBusy] = useState(false);
    const myId = me.value!.id;

    useEffect(() => {
        let cancelled = false;
        const timer = setTimeout(() => {
            const query = term.trim().replace(/^@/, '');
            const request: Promise<User[]> = query
                ? client.searchUsers(query, { allow_inactive: false, limit: 30 })
                : client.getProfiles(0, 30, { active: true });
            request.then((users) => {
                if (!cancelled) {
                    rememberUsers(users);
                    setFound(users.filter((u) => u.id !== myId && !u.delete_at));
                }
            }).catch((err) => !cancelled && setError(errorMessage(err)));
        }, 150);
        return () => {
            cancelled = true;
            clearTimeout(timer);
        };
    }, [term]);

    const toggle = (user: User) => {
        setPicked((current) => current.some((u) => u.id === user.id)
            ? current.filter((u) => u.id !== user.id)
            : current.length >= MAX_OTHERS ? current : [...current, user]);
        setTerm('');
    };

    const go = async () => {
        const team = currentTeam.value;
        if (picked.length === 0 || !team) {
            return;
        }
        setBusy(true);
        setError('');
        try {
            if (picked.length === 1) {
                const channel: Channel = await client.createDirectChannel([myId, picked[0].id]);
                addMyChannel(channel);
                onClose();
                navigate(`/${team.name}/messages/@${picked[0].username}`);
            } else {
                const channel: Channel = await client.createGroupChannel([myId, ...picked.map((u) => u.id)]);
                addMyChannel(channel);
                onClose();
                navigate(`/${team.name}/messages/${channel.name}`);
            }
        } catch (err) {
            setError(errorMessage(err));
        } finally {
            setBusy(false);
        }
    };

    return (
        <Modal id="moreDmModal" title="Direct messages" onClose={onClose} wide>
            <div class="picker">
                {picked.map((u) => (
                    <span class="chip" key={u.id}>@{u.username}<button aria-label={`Remove ${u.username}`} onClick={() => toggle(u)}>×</button></span>
                ))}
                <input id="selectItems" type="text" autoFocus autoComplete="off" placeholder={picked.length ? '' : 'Search for people'}
                    value={term} onInput={(e) => setTerm((e.target as HTMLInputElement).value)}
                    onKeyDown={(e) => {
                        if (e.key === 'Enter') {
                            e.preventDefault();
                            if (term.trim() && found.length > 0) {
                                toggle(found[0]);
                            } else {
                                go();
                            }
                        } else if (e.key === 'Backspace' && !term && picked.length) {
                            setPicked(picked.slice(0, -1));
                        }
                    }} />
                <button class="btn primary" id="saveItems" disabled={busy || picked.length === 0} onClick={go}>Go</button>
            </div>
            <div class="muted picker-hint">{picked.length >= MAX_OTHERS ? `A group message has at most ${MAX_OTHERS + 1} people.` : `Pick one person for a direct message, or up to ${MAX_OTHERS} for a group.`}</div>
            {error && <div class="error">{error}</div>}
            <ul class="people-list" id="multiSelectList">
                {found.map((u) => {
                    const selected = picked.some((p) => p.id === u.id);
                    return (
                        <li key={u.id} class={selected ? 'selected' : ''} id={`displayedUserName${u.username}`} onClick={() => toggle(u)}>
                            <img class="avatar small" alt="" src={`/api/v4/users/${u.id}/image`} />
                            <span><strong>@{u.username}</strong>{(u.first_name || u.last_name) && <span class="muted"> {u.first_name} {u.last_name}</span>}</span>
                            {selected && <span class="check">✓</span>}
                        </li>
                    );
                })}
                {found.length === 0 && <li class="muted empty">No people found.</li>}
            </ul>
        </Modal>
    );
}
