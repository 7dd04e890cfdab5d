// System Console > Environment > High Availability: one row per node of the cluster, green or
// red (the rule is in health.ts), refreshed every 5 seconds.

import { client } from '../api';
import { clusterHealth, formatAgo, type ClusterNode } from './health';
import { ReadOnlyNotice, Section, Setting, StatusDot, UpdatedAgo, usePoll, useConfig, yesNo } from './common';

const shortHash = (hash: string) => (hash ? hash.slice(0, 12) : '—');

export function HighAvailability() {
    const { data, error, updatedAt } = usePoll<ClusterNode[]>(() => client.getClusterStatus(), 5000);
    const { config, readOnly } = useConfig();
    const cluster = config?.ClusterSettings;
    const health = data ? clusterHealth(data) : null;
    const now = Date.now();

    return (
        <div>
            <div class="console-page-header">
                <h1>High Availability</h1>
                <UpdatedAgo at={updatedAt} error={error} />
            </div>
            {readOnly && <ReadOnlyNotice />}
            <Section title="Cluster status"
                description="Each server's status is green when it is communicating with the cluster and runs the same version and configuration as the others; red when it is down, draining, or its configuration file or version differs.">
                {!data && error && <div class="error">{error}</div>}
                {!data && !error && <div class="muted">Loading…</div>}
                {health && health.rows.length === 0 && (
                    <div class="console-notice">Clustering is not enabled on this server (ClusterSettings.Enable is false): there are no other nodes to show.</div>
                )}
                {health && health.rows.length > 0 && (
                    <>
                        <div class={`console-summary ${health.red > 0 ? 'red' : 'green'}`} data-testid="cluster-summary">
                            {health.red === 0
                                ? `All ${health.rows.length} servers are communicating as expected.`
                                : `${health.red} of ${health.rows.length} servers need attention.`}
                        </div>
                        <table class="console-table" data-testid="cluster-table">
                            <thead>
                                <tr>
                                    <th>Status</th><th>Hostname</th><th>Address</th><th>Version</th>
                                    <th>Config file</th><th>Schema</th><th>Role</th><th>Last heard</th>
                                </tr>
                            </thead>
                            <tbody>
                                {health.rows.map(({ node, status, reasons }) => (
                                    <tr key={node.id} data-testid="cluster-node" data-status={status} data-node-id={node.id}
                                        data-hostname={node.hostname} data-address={node.api_address} class={`node-row ${status}`}>
                                        <td>
                                            <StatusDot status={status} label={status === 'green' ? 'Green' : 'Red'} />
                                            {reasons.length > 0 && (
                                                <ul class="node-reasons" data-testid="node-reasons">
                                                    {reasons.map((reason) => <li key={reason}>{reason}</li>)}
                                                </ul>
                                            )}
                                        </td>
                                        <td>
                                            <div class="strong">{node.hostname || '—'}</div>
                                            <div class="muted small mono" title="Node id">{node.id}</div>
                                        </td>
                                        <td class="mono small">
                                            <div>{node.api_address || '—'}</div>
                                            {node.ipaddress && <div class="muted" title="Cluster (gossip) address">{node.ipaddress}</div>}
                                        </td>
                                        <td class={health.version && node.version !== health.version ? 'mismatch' : ''}>{node.version || '—'}</td>
                                        <td class={`mono small ${health.configHash && node.config_hash !== health.configHash ? 'mismatch' : ''}`}
                                            title={node.config_hash}>{shortHash(node.config_hash)}</td>
                                        <td class="small">{node.schema_version || '—'}</td>
                                        <td>
                                            <div class="badges">
                                                {node.is_leader && <span class="badge leader" title="Runs the scheduled jobs (lowest live node id)">Leader</span>}
                                                {node.is_self && <span class="badge" title="The node that answered this refresh (through the load balancer)">Answering</span>}
                                                {node.alive ? (node.ready === false ? <span class="badge warn">Draining</span> : <span class="badge ok">Alive · Ready</span>) : <span class="badge bad">Down</span>}
                                            </div>
                                        </td>
                                        <td class="small">{node.is_self && node.alive ? 'just now' : formatAgo(lastSeenMillis(node.last_seen_at), now)}</td>
                                    </tr>
                                ))}
                            </tbody>
                        </table>
                    </>
                )}
            </Section>
            {cluster && (
                <Section title="Cluster settings" description="From the configuration of the node that answered. They are node-local: each node's config.json (or environment) sets them.">
                    <dl class="settings-list">
                        <Setting name="Enable High Availability Mode" value={yesNo(cluster.Enable)} path="ClusterSettings.Enable" />
                        <Setting name="Cluster Name" value={cluster.ClusterName} path="ClusterSettings.ClusterName" />
                        <Setting name="Override Hostname" value={cluster.OverrideHostname} path="ClusterSettings.OverrideHostname" />
                        <Setting name="Use IP Address" value={yesNo(cluster.UseIPAddress ?? cluster.UseIpAddress)} path="ClusterSettings.UseIPAddress" />
                        <Setting name="Gossip Port" value={cluster.GossipPort} path="ClusterSettings.GossipPort" />
                        <Setting name="Gossip Encryption" value={yesNo(cluster.EnableGossipEncryption)} path="ClusterSettings.EnableGossipEncryption" />
                        <Setting name="Read Only Config" value={yesNo(cluster.ReadOnlyConfig)} path="ClusterSettings.ReadOnlyConfig" />
                    </dl>
                </Section>
            )}
        </div>
    );
}

/// The server may give seconds or milliseconds since the epoch.
function lastSeenMillis(at: number | undefined): number | undefined {
    if (!at) {
        return undefined;
    }
    return at < 1e12 ? at * 1000 : at;
}
