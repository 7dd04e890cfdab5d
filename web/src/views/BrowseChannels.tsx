// "Browse channels": the team's public channels I am not in, searchable; Join opens it.

import { useEffect, useState } from 'preact/hooks';
import { client, errorMessage } from '../api';
import { Channel, channels, ChannelMember, currentTeam, me, myMembers, navigate } from '../state';
import { Modal } from './Modal';

export function BrowseChannels({ onClose }: { onClose: () => void }) {
    const [all, setAll] = useState<Channel[] | null>(null);
    const [filter, setFilter] = useState('');
    const [error, setError] = useState('');
    const [busy, setBusy] = useState('');
    const team = currentTeam.value;

    useEffect(() => {
        if (!team) {
            return;
        }
        client.getChannels(team.id, 0, 200).then((list: Channel[]) => setAll(list))
            .catch((err: unknown) => setError(errorMessage(err)));
    }, [team?.id]);

    const join = async (channel: Channel) => {
        setBusy(channel.id);
        setError('');
        try {
            const member: ChannelMember = await client.addToChannel(me.value!.id, channel.id);
            const nextChannels = new Map(channels.value);
            nextChannels.set(channel.id, channel);
            channels.value = nextChannels;
            const nextMembers = new Map(myMembers.value);
            nextMembers.set(channel.id, member);
            myMembers.value = nextMembers;
            onClose();
            navigate(`/${team!.name}/channels/${channel.name}`);
        } catch (err) {
            setError(errorMessage(err));
        } finally {
            setBusy('');
        }
    };

    const needle = filter.trim().toLowerCase();
    const shown = (all ?? [])
        .filter((c) => c.type === 'O' && !c.delete_at && !channels.value.has(c.id))
        .filter((c) => !needle || c.display_name.toLowerCase().includes(needle) || c.name.includes(needle))
        .sort((a, b) => a.display_name.localeCompare(b.display_name));
    return (
        <Modal id="browseChannelsModal" title="Browse channels" onClose={onClose} wide>
            <input id="searchChannelsTextbox" class="modal-search" type="search" autoFocus placeholder="Search channels"
                value={filter} onInput={(e) => setFilter((e.target as HTMLInputElement).value)} />
            {error && <div class="error">{error}</div>}
            {all === null ? <div class="muted">Loading…</div>
                : shown.length === 0 ? <div class="muted empty">No more channels to join{needle ? ` matching “${filter}”` : ''}.</div>
                    : (
                        <ul class="browse-list">
                            {shown.map((c) => (
                                <li key={c.id} id={`ChannelRow-${c.name}`}>
                                    <div class="browse-name"><strong># {c.display_name}</strong>
                                        {c.purpose && <span class="muted">{c.purpose}</span>}</div>
                                    <button class="btn" disabled={busy === c.id} onClick={() => join(c)}>{busy === c.id ? 'Joining…' : 'Join'}</button>
                                </li>
                            ))}
                        </ul>
                    )}
        </Modal>
    );
}
