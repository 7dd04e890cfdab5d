// Pieces the System Console's pages share: polling, the configuration (and whether it is
// read-only), action buttons that say what happened, status dots.

import type { ComponentChildren } from 'preact';
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { signal } from '@preact/signals';
import { client, errorMessage } from '../api';
import { me, navigate } from '../state';
import { configReadOnly, READ_ONLY_REASON, type Status } from './health';

/// The server's message for a failed call; a session that expired or was revoked (401) goes
/// back to the login page instead.
export function consoleError(error: unknown): string {
    if ((error as { status_code?: number })?.status_code === 401) {
        me.value = null;
        navigate('/login', true);
    }
    return errorMessage(error);
}

/// Loads `load()` now and every `everyMs` after the previous answer (never two at once), while
/// the page is shown. Keeps the last good data when a refresh fails and says so.
export function usePoll<T>(load: () => Promise<T>, everyMs: number) {
    const [data, setData] = useState<T | null>(null);
    const [error, setError] = useState('');
    const [updatedAt, setUpdatedAt] = useState(0);
    const loadRef = useRef(load);
    loadRef.current = load;
    const timer = useRef<number | undefined>(undefined);
    const alive = useRef(true);

    const refresh = useCallback(async () => {
        window.clearTimeout(timer.current);
        try {
            const answer = await loadRef.current();
            if (!alive.current) {
                return;
            }
            setData(answer);
            setError('');
            setUpdatedAt(Date.now());
        } catch (err) {
            if (alive.current) {
                setError(consoleError(err));
            }
        }
        if (alive.current && everyMs > 0) {
            timer.current = window.setTimeout(refresh, everyMs);
        }
    }, [everyMs]);

    useEffect(() => {
        alive.current = true;
        refresh();
        return () => {
            alive.current = false;
            window.clearTimeout(timer.current);
        };
    }, [refresh]);

    return { data, error, updatedAt, refresh };
}

/// The admin configuration (GET /config), shared by the pages that show settings; reloaded
/// after a reload from disk or a save.
export const adminConfig = signal<any | null>(null);
export const adminConfigError = signal('');

/// Which settings an environment variable sets (GET /config/environment: the same tree with
/// `true` at each such key): those cannot be changed here whatever ReadOnlyConfig says.
export const environmentConfig = signal<any | null>(null);

export const ENVIRONMENT_REASON = 'Set through an environment variable: it cannot be changed in the System Console.';

export function fromEnvironment(path: string): boolean {
    let node = environmentConfig.value;
    for (const key of path.split('.')) {
        node = node?.[key];
    }
    return node === true;
}

export async function loadConfig(): Promise<any> {
    try {
        const [config, environment] = await Promise.all([
            client.getConfig(),
            client.getEnvironmentConfig().catch(() => null),
        ]);
        adminConfig.value = config;
        environmentConfig.value = environment;
        adminConfigError.value = '';
    } catch (err) {
        adminConfigError.value = consoleError(err);
    }
    return adminConfig.value;
}

export function useConfig() {
    useEffect(() => {
        loadConfig();
    }, []);
    return { config: adminConfig.value, readOnly: configReadOnly(adminConfig.value), error: adminConfigError.value };
}

export function ReadOnlyNotice() {
    return (
        <div class="console-notice console-readonly" data-testid="read-only-notice">
            <strong>Settings are read-only.</strong> {READ_ONLY_REASON}
        </div>
    );
}

/// A button that runs `action`, shows it is busy, then says what happened (the server's
/// message on an error).
export function ActionButton({ label, action, done, confirm, kind = 'primary', testId }: {
    label: string; action: () => Promise<unknown>; done: string; confirm?: string;
    kind?: 'primary' | 'danger' | 'secondary'; testId?: string;
}) {
    const [busy, setBusy] = useState(false);
    const [result, setResult] = useState<{ ok: boolean; text: string } | null>(null);
    const run = async () => {
        if (confirm && !window.confirm(confirm)) {
            return;
        }
        setBusy(true);
        setResult(null);
        try {
            await action();
            setResult({ ok: true, text: done });
        } catch (err) {
            setResult({ ok: false, text: consoleError(err) });
        } finally {
            setBusy(false);
        }
    };
    return (
        <div class="console-action">
            <button type="button" class={`btn btn-${kind}`} disabled={busy} onClick={run} data-testid={testId}>
                {busy ? `${label}…` : label}
            </button>
            {result && (
                <span class={result.ok ? 'console-result ok' : 'console-result failed'} role="status">
                    {result.ok ? '✓ ' : ''}{result.text}
                </span>
            )}
        </div>
    );
}

export function StatusDot({ status, label }: { status: Status; label?: string }) {
    return (
        <span class={`status-pill ${status}`}>
            <span class="status-dot" />{label ?? (status === 'green' ? 'Healthy' : 'Needs attention')}
        </span>
    );
}

export function Section({ title, description, children }: { title: string; description?: ComponentChildren; children: ComponentChildren }) {
    return (
        <section class="console-section">
            <h2>{title}</h2>
            {description && <p class="muted">{description}</p>}
            {children}
        </section>
    );
}

/// "Updated 3 s ago" that ticks by itself.
export function UpdatedAgo({ at, error, everySeconds = 5 }: { at: number; error?: string; everySeconds?: number }) {
    const [, setTick] = useState(0);
    useEffect(() => {
        const id = window.setInterval(() => setTick((tick) => tick + 1), 1000);
        return () => window.clearInterval(id);
    }, []);
    const seconds = at ? Math.max(0, Math.round((Date.now() - at) / 1000)) : null;
    return (
        <span class="console-updated muted" data-testid="last-updated">
            {error ? <span class="console-result failed">Refresh failed: {error}. </span> : null}
            {seconds === null ? 'Loading…' : `Updated ${seconds < 2 ? 'just now' : `${seconds} s ago`} · refreshes every ${everySeconds} s`}
        </span>
    );
}

export function formatTime(at: number | undefined): string {
    if (!at) {
        return '—';
    }
    const date = new Date(at);
    if (date.toDateString() === new Date().toDateString()) {
        return date.toLocaleTimeString(undefined, { timeStyle: 'medium' });
    }
    return date.toLocaleString(undefined, { dateStyle: 'short', timeStyle: 'short' });
}

export function yesNo(value: unknown): string {
    return value ? 'true' : 'false';
}

/// A setting shown read-only; `path` ("ServiceSettings.SiteURL") marks one an environment
/// variable sets.
export function Setting({ name, value, path }: { name: string; value: unknown; path?: string }) {
    const shown = value === undefined || value === null || value === '' ? '—' : String(value);
    return (
        <>
            <dt>{name}</dt>
            <dd><span class="mono">{shown}</span>{path && <EnvironmentBadge path={path} />}</dd>
        </>
    );
}

export function EnvironmentBadge({ path }: { path: string }) {
    return fromEnvironment(path) ? <span class="badge env" title={ENVIRONMENT_REASON} data-testid="from-environment">environment variable</span> : null;
}
