// The System Console, /admin_console/…: system admins only.

import { me } from '../state';

export function Console({ section }: { section: string }) {
    if (!me.value?.roles.split(' ').includes('system_admin')) {
        return <div class="center muted">The System Console is for system admins.</div>;
    }
    return <div class="console"><h1>System Console</h1><div class="muted">{section}</div></div>;
}
