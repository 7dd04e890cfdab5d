// The System Console, /admin_console/…: system admins only. A left navigation with Mattermost's
// sections and paths, and the page of the section shown.

import type { ComponentType } from 'preact';
import { useEffect } from 'preact/hooks';
import { me, navigate } from '../state';
import { HighAvailability } from './HighAvailability';
import { Database, Logging, WebServer } from './Environment';
import { Jobs } from './Jobs';
import { Users } from './Users';
import { Channels, Teams } from './TeamsChannels';

type Page = { path: string; title: string; component: ComponentType };

const SECTIONS: { title: string; pages: Page[] }[] = [
    {
        title: 'Environment',
        pages: [
            { path: 'environment/web_server', title: 'Web Server', component: WebServer },
            { path: 'environment/database', title: 'Database', component: Database },
            { path: 'environment/high_availability', title: 'High Availability', component: HighAvailability },
            { path: 'environment/logging', title: 'Logging', component: Logging },
            { path: 'environment/jobs', title: 'Jobs', component: Jobs },
        ],
    },
    {
        title: 'User Management',
        pages: [
            { path: 'user_management/users', title: 'Users', component: Users },
            { path: 'user_management/teams', title: 'Teams', component: Teams },
            { path: 'user_management/channels', title: 'Channels', component: Channels },
        ],
    },
];

const PAGES = SECTIONS.flatMap((section) => section.pages);
const DEFAULT_PAGE = 'environment/high_availability';
/// Mattermost's own paths for the same pages.
const ALIASES: Record<string, string> = {
    'compliance/data_retention': 'environment/jobs',
    'compliance/data_retention_settings': 'environment/jobs',
};

function link(path: string) {
    return (event: MouseEvent) => {
        if (event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey) {
            return;
        }
        event.preventDefault();
        navigate(path);
    };
}

export function Console({ section }: { section: string }) {
    const wanted = section.replace(/\/+$/, '');
    const resolved = ALIASES[wanted] ?? wanted;
    const page = PAGES.find((one) => one.path === resolved);
    const allowed = Boolean(me.value?.roles.split(' ').includes('system_admin'));

    useEffect(() => {
        if (allowed && !page) {
            navigate(`/admin_console/${DEFAULT_PAGE}`, true);
        }
    }, [allowed, page]);
    useEffect(() => {
        document.title = page ? `${page.title} - System Console - Chorus` : 'System Console - Chorus';
    }, [page]);

    if (!allowed) {
        return (
            <div class="console-denied" id="console-not-allowed" data-testid="console-not-allowed">
                <div class="console-denied-box">
                    <h1>Not allowed</h1>
                    <p>The System Console is for system admins. Your account (@{me.value?.username}) does not have the System Admin role.</p>
                    <p class="muted">Ask a system admin of this server if you need access.</p>
                    <a class="btn btn-primary" href="/" onClick={link('/')}>Back to chat</a>
                </div>
            </div>
        );
    }
    const Page = page?.component;
    return (
        <div class="console" id="adminConsoleWrapper">
            <nav class="console-nav" id="adminSidebar" aria-label="System Console">
                <div class="console-nav-header">
                    <div class="console-brand">System Console</div>
                    <a class="console-back" href="/" onClick={link('/')} data-testid="back-to-chat">← Back to chat</a>
                </div>
                {SECTIONS.map((one) => (
                    <div class="console-nav-section" key={one.title}>
                        <div class="console-nav-title">{one.title}</div>
                        {one.pages.map((item) => (
                            <a key={item.path} href={`/admin_console/${item.path}`} onClick={link(`/admin_console/${item.path}`)}
                                class={item.path === page?.path ? 'active' : ''} data-testid={`nav-${item.path.split('/')[1]}`}>
                                {item.title}
                            </a>
                        ))}
                    </div>
                ))}
                <div class="console-nav-footer muted">Logged in as @{me.value?.username}</div>
            </nav>
            <main class="console-main">
                <div class="console-breadcrumb muted">
                    {SECTIONS.find((one) => one.pages.includes(page!))?.title} › {page?.title}
                </div>
                {Page ? <Page key={page!.path} /> : <div class="muted">Loading…</div>}
            </main>
        </div>
    );
}
