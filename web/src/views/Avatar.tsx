// A person's picture with their presence dot (online, away, dnd, offline), as in Mattermost.

import { useEffect } from 'preact/hooks';
import { ensureStatuses } from '../logic/presence';
import { statuses, users } from '../state';

type Props = { userId: string; size?: number; showStatus?: boolean };

const LABELS: Record<string, string> = { online: 'Online', away: 'Away', dnd: 'Do not disturb', offline: 'Offline' };

export function Avatar({ userId, size = 36, showStatus = true }: Props) {
    useEffect(() => {
        if (showStatus) {
            ensureStatuses([userId]);
        }
    }, [userId, showStatus]);
    const user = users.value.get(userId);
    const status = statuses.value.get(userId) ?? 'offline';
    const src = `/api/v4/users/${userId}/image?_=${user?.last_picture_update ?? 0}`;
    return (
        <span class="avatar-wrap" style={{ width: `${size}px`, height: `${size}px` }}>
            <img class="avatar" alt="" src={src} width={size} height={size} loading="lazy" />
            {showStatus && (
                <span class={`status-dot status-${status}`} data-testid="status-dot" data-status={status}
                    data-user-id={userId} title={LABELS[status] ?? status} />
            )}
        </span>
    );
}
