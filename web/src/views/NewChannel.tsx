// "Create new channel": a display name (the URL name follows it), public or private, a purpose.

import { useState } from 'preact/hooks';
import { client, errorMessage } from '../api';
import { channelUrlName } from '../logic/unreads';
import { Channel, channels, currentTeam, me, myMembers, navigate } from '../state';
import { LockIcon } from './ChannelSidebar';
import { Modal } from './Modal';

export function NewChannel({ onClose }: { onClose: () => void }) {
    const [displayName, setDisplayName] = useState('');
    const [purpose, setPurpose] = useState('');
    const [type, setType] = useState<'O' | 'P'>('O');
    const [error, setError] = useState('');
    const [busy, setBusy] = useState(false);
    const team = currentTeam.value;
    const name = channelUrlName(displayName);

    const create = async (event: Event) => {
        event.preventDefault();
        if (!team) {
            return;
        }
        setBusy(true);
        setError('');
        try {
            const channel: Channel = await client.createChannel({
                team_id: team.id, name: name || `c-${Date.now().toString(36)}`, display_name: displayName.trim(), type, purpose,
            } as any);
            const nextChannels = new Map(channels.value);
            nextChannels.set(channel.id, channel);
            channels.value = nextChannels;
            if (!myMembers.value.has(channel.id)) {
                const nextMembers = new Map(myMembers.value);
                nextMembers.set(channel.id, { channel_id: channel.id, user_id: me.value!.id, msg_count: 0, mention_count: 0, last_viewed_at: Date.now() });
                myMembers.value = nextMembers;
            }
            onClose();
            navigate(`/${team.name}/channels/${channel.name}`);
        } catch (err) {
            setError(errorMessage(err));
        } finally {
            setBusy(false);
        }
    };

    return (
        <Modal id="newChannelModal" title="Create a new channel" onClose={onClose}>
            <form class="modal-form" onSubmit={create}>
                {error && <div class="error" id="newChannelError">{error}</div>}
                <label class="field-label" for="newChannelName">Name</label>
                <input id="newChannelName" type="text" autoFocus maxLength={64} placeholder="e.g. Marketing"
                    value={displayName} onInput={(e) => setDisplayName((e.target as HTMLInputElement).value)} />
                <span class="field-hint">URL: /{team?.name}/channels/{name || '…'}</span>
                <div class="radio-cards">
                    <label class={type === 'O' ? 'selected' : ''}>
                        <input type="radio" name="type" id="public-private-selector-button-O" checked={type === 'O'} onChange={() => setType('O')} />
                        <strong># Public channel</strong><span class="muted">Anyone in the team can find and join it</span>
                    </label>
                    <label class={type === 'P' ? 'selected' : ''}>
                        <input type="radio" name="type" id="public-private-selector-button-P" checked={type === 'P'} onChange={() => setType('P')} />
                        <strong><LockIcon /> Private channel</strong><span class="muted">Only invited members</span>
                    </label>
                </div>
                <label class="field-label" for="newChannelPurpose">Purpose <span class="muted">(optional)</span></label>
                <input id="newChannelPurpose" type="text" value={purpose} onInput={(e) => setPurpose((e.target as HTMLInputElement).value)} />
                <div class="modal-actions">
                    <button type="button" class="btn" onClick={onClose}>Cancel</button>
                    <button type="submit" class="btn primary" id="newChannelSubmit" disabled={busy || !displayName.trim()}>
                        {busy ? 'Creating…' : 'Create channel'}
                    </button>
                </div>
            </form>
        </Modal>
    );
}
