// The session, in one place: a session that ends (it expired, an admin revoked it, the person
// logged out elsewhere) sends the page to /login. Client4 answers 401 for every call made with
// an ended session, so any 401 ends it here; the websocket is refused too, and while it cannot
// reconnect the page asks the server who it is, which answers 401 once the session is gone.

import { effect } from '@preact/signals';
import { client, connection, socket } from '../api';
import {
    categories, channels, currentChannelId, currentTeam, highlightPostId, me, myMembers, navigate,
    rightPane, teams, teamUnreads,
} from '../state';

let installed = false;
let checking: ReturnType<typeof setInterval> | null = null;

/// Whether a failed call says the session is over (not a wrong password on /login).
export function endsSession(status: number | undefined, url: string, loggedIn: boolean): boolean {
    return loggedIn && status === 401 && !/\/api\/v4\/users\/(login|logout)(\b|$)/.test(url);
}

/// Forgets everything the page knew about the person and shows /login.
export function sessionEnded() {
    if (!me.value) {
        return;
    }
    try {
        socket.close();
    } catch {
        // not connected
    }
    me.value = null;
    teams.value = [];
    currentTeam.value = null;
    channels.value = new Map();
    myMembers.value = new Map();
    categories.value = [];
    teamUnreads.value = new Map();
    currentChannelId.value = null;
    rightPane.value = null;
    highlightPostId.value = null;
    navigate('/login', true);
}

/// Logs out on the server (ending the session and its cookie), then shows /login.
export async function logOut() {
    try {
        await client.logout();
    } catch {
        // The session may be gone already; the page forgets it either way.
    }
    sessionEnded();
}

/// Installs the 401 watch on the page's Client4 and the websocket check; once.
export function installSessionGuard() {
    if (installed) {
        return;
    }
    installed = true;
    const original = client.doFetchWithResponse;
    client.doFetchWithResponse = async (url: string, options: unknown) => {
        try {
            return await original(url, options);
        } catch (error) {
            const status = (error as { status_code?: number })?.status_code;
            if (endsSession(status, url, !!me.value)) {
                sessionEnded();
            }
            throw error;
        }
    };
    // While the websocket cannot reconnect, ask the server now and then whether the session
    // still stands (a node that died answers nothing, NGINX's next node answers; a revoked
    // session answers 401, which the watch above turns into /login).
    effect(() => {
        const down = connection.value === 'reconnecting' && !!me.value;
        if (down && !checking) {
            const check = () => {
                client.getMe().catch(() => {});
            };
            setTimeout(check, 1000);
            checking = setInterval(check, 4000);
        } else if (!down && checking) {
            clearInterval(checking);
            checking = null;
        }
    });
}
