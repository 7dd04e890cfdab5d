// System Console > Environment > Jobs: the job server's jobs (every type), newest first, with
// their status refreshing; run data retention now, run the other jobs, cancel a waiting one.

import { useState } from 'preact/hooks';
import { client } from '../api';
import { ActionButton, consoleError, formatTime, Section, UpdatedAgo, usePoll, useConfig } from './common';

type Job = {
    id: string; type: string; status: string; create_at: number; start_at: number;
    last_activity_at: number; progress: number; data?: Record<string, string>;
};

const TYPE_NAMES: Record<string, string> = {
    data_retention: 'Data retention',
    expired_sessions: 'Expired sessions cleanup',
    cluster_discovery_cleanup: 'Cluster discovery cleanup',
};

const STATUS_CLASSES: Record<string, string> = {
    success: 'ok', error: 'bad', canceled: '', cancel_requested: 'warn', pending: 'warn', in_progress: 'info', warning: 'warn',
};

const STATUS_NAMES: Record<string, string> = {
    success: 'Success', error: 'Error', canceled: 'Canceled', cancel_requested: 'Cancel requested',
    pending: 'Pending', in_progress: 'In progress', warning: 'Warning',
};

export function Jobs() {
    const { data, error, updatedAt, refresh } = usePoll<Job[]>(() => client.getJobs(0, 50), 5000);
    const { config } = useConfig();
    const retention = config?.DataRetentionSettings;
    const [notice, setNotice] = useState<{ ok: boolean; text: string } | null>(null);

    const cancel = async (job: Job) => {
        setNotice(null);
        try {
            await client.cancelJob(job.id);
            setNotice({ ok: true, text: `Asked to cancel the ${TYPE_NAMES[job.type] ?? job.type} job.` });
            await refresh();
        } catch (err) {
            setNotice({ ok: false, text: consoleError(err) });
        }
    };
    const jobs = data ? [...data].sort((a, b) => b.create_at - a.create_at) : null;

    return (
        <div>
            <div class="console-page-header">
                <h1>Jobs</h1>
                <UpdatedAgo at={updatedAt} error={error} />
            </div>
            <Section title="Data retention"
                description={retention
                    ? (retention.EnableMessageDeletion
                        ? `Posts older than ${retention.MessageRetentionDays} days are deleted permanently when the job runs (every day on the cluster leader, or now).`
                        : 'Message deletion is off (DataRetentionSettings.EnableMessageDeletion): the job runs and deletes nothing.')
                    : 'Deletes posts older than the retention period (DataRetentionSettings).'}>
                <div class="action-stack">
                    <ActionButton label="Run Deletion Job Now" testId="run-data-retention"
                        action={async () => { await client.createJob({ type: 'data_retention' }); await refresh(); }}
                        done="Data retention job created: a node's job server picks it up." />
                    <ActionButton label="Clean Up Expired Sessions" kind="secondary" testId="run-expired-sessions"
                        action={async () => { await client.createJob({ type: 'expired_sessions' }); await refresh(); }}
                        done="Expired sessions job created." />
                </div>
            </Section>
            <Section title="Job list">
                {notice && <div class={notice.ok ? 'console-notice ok' : 'error'} role="status">{notice.text}</div>}
                {!jobs && error && <div class="error">{error}</div>}
                {!jobs && !error && <div class="muted">Loading…</div>}
                {jobs && (
                    <table class="console-table" data-testid="jobs-table">
                        <thead><tr><th>Status</th><th>Type</th><th>Created</th><th>Started</th><th>Last activity</th><th>Progress</th><th>Details</th><th></th></tr></thead>
                        <tbody>
                            {jobs.length === 0 && <tr><td colSpan={8} class="muted">No jobs have run yet.</td></tr>}
                            {jobs.map((job) => (
                                <tr key={job.id} data-testid="job-row" data-job-id={job.id} data-type={job.type} data-job-status={job.status}>
                                    <td><span class={`badge ${STATUS_CLASSES[job.status] ?? ''}`}>{STATUS_NAMES[job.status] ?? job.status}</span></td>
                                    <td>{TYPE_NAMES[job.type] ?? job.type}</td>
                                    <td class="small">{formatTime(job.create_at)}</td>
                                    <td class="small">{formatTime(job.start_at)}</td>
                                    <td class="small">{formatTime(job.last_activity_at)}</td>
                                    <td>{job.progress >= 0 ? `${job.progress}%` : '—'}</td>
                                    <td class="small job-data">{jobDetails(job)}</td>
                                    <td>
                                        {(job.status === 'pending' || job.status === 'in_progress') && (
                                            <button type="button" class="btn btn-small btn-secondary" data-action="cancel" onClick={() => cancel(job)}>Cancel</button>
                                        )}
                                    </td>
                                </tr>
                            ))}
                        </tbody>
                    </table>
                )}
            </Section>
        </div>
    );
}

function jobDetails(job: Job): string {
    const data = job.data ?? {};
    if (data.error) {
        return data.error;
    }
    return Object.entries(data).map(([key, value]) => `${key.replace(/_/g, ' ')}: ${value}`).join(' · ') || '—';
}
