// System Console > Environment: Web Server (reload the configuration, purge caches), Database
// (recycle connections; master and replicas), Logging (levels, read-only under ReadOnlyConfig).

import { useEffect, useState } from 'preact/hooks';
import { client } from '../api';
import { formatBytes, sourceHealth, type DatabaseSource, type DatabaseStatus } from './health';
import {
    ActionButton, consoleError, EnvironmentBadge, fromEnvironment, loadConfig, ReadOnlyNotice, Section, Setting, StatusDot, UpdatedAgo, usePoll, useConfig,
} from './common';

export function WebServer() {
    const { config, readOnly, error } = useConfig();
    const service = config?.ServiceSettings;
    return (
        <div>
            <div class="console-page-header"><h1>Web Server</h1></div>
            {readOnly && <ReadOnlyNotice />}
            {error && <div class="error">{error}</div>}
            <Section title="Reload Configuration from Disk"
                description="Re-reads the configuration (each node its config.json, or the active configuration in the database) on every node of the cluster, and applies it without a restart.">
                <ActionButton label="Reload Configuration from Disk" testId="reload-config"
                    action={async () => { await client.reloadConfig(); await loadConfig(); }}
                    done="Configuration reloaded on every node." />
            </Section>
            <Section title="Purge All Caches" description="Drops every node's in-memory caches (sessions, users, channels); they fill again from the database.">
                <ActionButton label="Purge All Caches" kind="secondary" testId="purge-caches"
                    action={() => client.invalidateCaches()} done="Caches purged on every node." />
            </Section>
            {service && (
                <Section title="Settings" description={readOnly ? 'Shown read-only.' : 'Edit these in config.json and reload, or through PUT /api/v4/config.'}>
                    <dl class="settings-list">
                        <Setting name="Site URL" value={service.SiteURL} path="ServiceSettings.SiteURL" />
                        <Setting name="Listen Address" value={service.ListenAddress} path="ServiceSettings.ListenAddress" />
                        <Setting name="Connection Security" value={service.ConnectionSecurity} path="ServiceSettings.ConnectionSecurity" />
                        <Setting name="Read Timeout (s)" value={service.ReadTimeout} path="ServiceSettings.ReadTimeout" />
                        <Setting name="Write Timeout (s)" value={service.WriteTimeout} path="ServiceSettings.WriteTimeout" />
                        <Setting name="Maximum Payload Size (bytes)" value={service.MaximumPayloadSizeBytes} path="ServiceSettings.MaximumPayloadSizeBytes" />
                    </dl>
                </Section>
            )}
        </div>
    );
}

function SourceRow({ source, replica }: { source: DatabaseSource; replica: boolean }) {
    const health = sourceHealth(source, replica);
    return (
        <tr data-testid="database-source" data-role={replica ? 'replica' : 'master'} data-status={health.status} class={`node-row ${health.status}`}>
            <td>
                <StatusDot status={health.status} label={health.status === 'green' ? 'Green' : 'Red'} />
                {health.reasons.length > 0 && <ul class="node-reasons">{health.reasons.map((reason) => <li key={reason}>{reason}</li>)}</ul>}
            </td>
            <td><span class={`badge ${replica ? '' : 'leader'}`}>{replica ? 'Replica' : 'Master'}</span></td>
            <td class="mono small">{source.source}</td>
            <td>{source.reachable ? 'Yes' : 'No'}</td>
            <td>{replica ? (source.in_rotation ? 'Yes' : 'No') : 'Writes'}</td>
            <td>{replica ? `${formatBytes(source.lag_bytes)} · ${source.lag_seconds !== undefined ? `${source.lag_seconds.toFixed(1)} s` : '—'}` : '—'}</td>
            <td>
                <div class="pool-bar" title={`${source.pool_open - source.pool_idle} in use, ${source.pool_idle} idle, ${source.pool_max} max`}>
                    <div class="pool-used" style={{ width: `${source.pool_max ? Math.min(100, (100 * (source.pool_open - source.pool_idle)) / source.pool_max) : 0}%` }} />
                    <div class="pool-idle" style={{ width: `${source.pool_max ? Math.min(100, (100 * source.pool_idle) / source.pool_max) : 0}%` }} />
                </div>
                <div class="small muted">{source.pool_open - source.pool_idle} in use · {source.pool_idle} idle · {source.pool_max} max</div>
            </td>
            <td class="small">{source.probe_seconds !== undefined ? `${(source.probe_seconds * 1000).toFixed(1)} ms` : '—'}</td>
        </tr>
    );
}

export function Database() {
    const { data, error, updatedAt, refresh } = usePoll<DatabaseStatus>(
        () => (client as any).doFetch(`${client.getBaseRoute()}/database/status`, { method: 'get' }), 5000);
    const { config, readOnly } = useConfig();
    const sql = config?.SqlSettings;
    return (
        <div>
            <div class="console-page-header">
                <h1>Database</h1>
                <UpdatedAgo at={updatedAt} error={error} />
            </div>
            {readOnly && <ReadOnlyNotice />}
            <Section title="Recycle Database Connections"
                description="Closes every node's database connections and opens new ones, to the master and each replica as the configuration names them now (after a failover, or a changed DataSourceReplicas).">
                <ActionButton label="Recycle Database Connections" testId="recycle-database"
                    action={async () => { await client.recycleDatabase(); await refresh(); }}
                    done="Database connections recycled on every node." />
            </Section>
            <Section title="Sources" description="The master and each read replica as the node that answered sees them.">
                {!data && error && <div class="error">{error}</div>}
                {!data && !error && <div class="muted">Loading…</div>}
                {data && (
                    <table class="console-table" data-testid="database-table">
                        <thead>
                            <tr><th>Status</th><th>Role</th><th>Source</th><th>Reachable</th><th>In rotation</th><th>Replication lag</th><th>Connection pool</th><th>Probe</th></tr>
                        </thead>
                        <tbody>
                            <SourceRow source={data.master} replica={false} />
                            {data.replicas.map((replica) => <SourceRow key={replica.source} source={replica} replica />)}
                        </tbody>
                    </table>
                )}
                {data && data.replicas.length === 0 && <div class="console-notice">No read replicas are configured (SqlSettings.DataSourceReplicas): every read goes to the master.</div>}
            </Section>
            {sql && (
                <Section title="Settings">
                    <dl class="settings-list">
                        <Setting name="Driver Name" value={sql.DriverName} path="SqlSettings.DriverName" />
                        <Setting name="Data Source" value={sql.DataSource} path="SqlSettings.DataSource" />
                        <Setting name="Read Replicas" value={(sql.DataSourceReplicas ?? []).length} path="SqlSettings.DataSourceReplicas" />
                        <Setting name="Search Replicas" value={(sql.DataSourceSearchReplicas ?? []).length} path="SqlSettings.DataSourceSearchReplicas" />
                        <Setting name="Maximum Open Connections" value={sql.MaxOpenConns} path="SqlSettings.MaxOpenConns" />
                        <Setting name="Maximum Idle Connections" value={sql.MaxIdleConns} path="SqlSettings.MaxIdleConns" />
                        <Setting name="Query Timeout (s)" value={sql.QueryTimeout} path="SqlSettings.QueryTimeout" />
                    </dl>
                </Section>
            )}
        </div>
    );
}

const LEVELS = ['DEBUG', 'INFO', 'WARN', 'ERROR'];

export function Logging() {
    const { config, readOnly, error } = useConfig();
    const [draft, setDraft] = useState<Record<string, any> | null>(null);
    const [result, setResult] = useState<{ ok: boolean; text: string } | null>(null);
    const [saving, setSaving] = useState(false);
    const log = config?.LogSettings;
    useEffect(() => {
        if (log) {
            setDraft({ EnableConsole: log.EnableConsole, ConsoleLevel: log.ConsoleLevel, EnableFile: log.EnableFile, FileLevel: log.FileLevel });
        }
    }, [log]);
    const set = (key: string, value: unknown) => {
        setDraft((current) => ({ ...current, [key]: value }));
        setResult(null);
    };
    const changed = Boolean(log && draft && Object.keys(draft).some((key) => draft[key] !== log[key]));
    const save = async (event: Event) => {
        event.preventDefault();
        setSaving(true);
        setResult(null);
        try {
            // Only what changed, and never a key an environment variable sets.
            const patch = Object.fromEntries(Object.entries(draft ?? {})
                .filter(([key, value]) => value !== log[key] && !fromEnvironment(`LogSettings.${key}`)));
            await client.patchConfig({ LogSettings: patch });
            await loadConfig();
            setResult({ ok: true, text: 'Saved: every node logs at the new levels.' });
        } catch (err) {
            setResult({ ok: false, text: consoleError(err) });
        } finally {
            setSaving(false);
        }
    };
    return (
        <div>
            <div class="console-page-header"><h1>Logging</h1></div>
            {readOnly && <ReadOnlyNotice />}
            {error && <div class="error">{error}</div>}
            {!config && !error && <div class="muted">Loading…</div>}
            {log && draft && (
                <form class="console-form" onSubmit={save} data-testid="logging-form">
                    <fieldset disabled={readOnly || saving}>
                        <label class="field">
                            <span>Output logs to console</span>
                            <input type="checkbox" id="LogSettings.EnableConsole" disabled={fromEnvironment('LogSettings.EnableConsole')} checked={Boolean(draft.EnableConsole)}
                                onChange={(e) => set('EnableConsole', (e.target as HTMLInputElement).checked)} />
                            <EnvironmentBadge path="LogSettings.EnableConsole" />
                        </label>
                        <label class="field">
                            <span>Console Log Level</span>
                            <select id="LogSettings.ConsoleLevel" disabled={fromEnvironment('LogSettings.ConsoleLevel')} value={draft.ConsoleLevel}
                                onChange={(e) => set('ConsoleLevel', (e.target as HTMLSelectElement).value)}>
                                {LEVELS.map((level) => <option key={level} value={level}>{level}</option>)}
                            </select>
                            <EnvironmentBadge path="LogSettings.ConsoleLevel" />
                        </label>
                        <label class="field">
                            <span>Output logs to file</span>
                            <input type="checkbox" id="LogSettings.EnableFile" disabled={fromEnvironment('LogSettings.EnableFile')} checked={Boolean(draft.EnableFile)}
                                onChange={(e) => set('EnableFile', (e.target as HTMLInputElement).checked)} />
                            <EnvironmentBadge path="LogSettings.EnableFile" />
                        </label>
                        <label class="field">
                            <span>File Log Level</span>
                            <select id="LogSettings.FileLevel" disabled={fromEnvironment('LogSettings.FileLevel')} value={draft.FileLevel}
                                onChange={(e) => set('FileLevel', (e.target as HTMLSelectElement).value)}>
                                {LEVELS.map((level) => <option key={level} value={level}>{level}</option>)}
                            </select>
                            <EnvironmentBadge path="LogSettings.FileLevel" />
                        </label>
                        <div class="field">
                            <span>File Log Directory</span>
                            <span><span class="mono">{log.FileLocation || './logs'}</span><EnvironmentBadge path="LogSettings.FileLocation" /></span>
                        </div>
                    </fieldset>
                    <div class="console-action">
                        <button type="submit" class="btn btn-primary" disabled={readOnly || saving || !changed} data-testid="save-logging">
                            {saving ? 'Saving…' : 'Save'}
                        </button>
                        {result && <span class={result.ok ? 'console-result ok' : 'console-result failed'} role="status">{result.text}</span>}
                    </div>
                </form>
            )}
        </div>
    );
}
