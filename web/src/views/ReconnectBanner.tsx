// A small notice while the websocket is down: the page keeps working (what is typed stays,
// posts wait in the outbox) and catches up by itself when the connection is back.

import { connection } from '../api';

export function ReconnectBanner() {
    if (connection.value !== 'reconnecting') {
        return null;
    }
    return <div id="reconnect_banner" class="reconnect-banner" role="status">Reconnecting…</div>;
}
