// The System Console's red/green rules: pure functions over the server's answers, so they are
// unit-tested without a browser (tests/unit/health.test.ts).
//
// High Availability (Mattermost's operator guide, "Red server status"): a server is red when it
// is down (the cluster stopped hearing from it), when its configuration file differs from the
// others' ("Configuration file mismatch"), or when it runs another version ("Server version
// mismatch"). The server's own `config_mismatch`/`version_mismatch` flags compare every node with
// the node that answered, which blames the healthy majority when the answering node is the odd
// one; the console compares each node with the majority of the live nodes instead.

/// One node of GET /api/v4/cluster/status.
export type ClusterNode = {
    id: string;
    hostname: string;
    ipaddress?: string;
    api_address?: string;
    version: string;
    schema_version?: string;
    config_hash: string;
    alive: boolean;
    ready?: boolean;
    is_leader?: boolean;
    is_self?: boolean;
    last_seen_at?: number;
    config_mismatch?: boolean;
    version_mismatch?: boolean;
};

export type Status = 'green' | 'red';

export type NodeHealth = { node: ClusterNode; status: Status; reasons: string[] };

export type ClusterHealth = {
    rows: NodeHealth[];
    /// The configuration hash and version most live nodes agree on (null when they tie).
    configHash: string | null;
    version: string | null;
    red: number;
};

/// The value most of `values` share, or null when two values tie for most (or there are none).
export function majority(values: string[]): string | null {
    const counts = new Map<string, number>();
    for (const value of values) {
        counts.set(value, (counts.get(value) ?? 0) + 1);
    }
    let best: string | null = null;
    let bestCount = 0;
    let tied = false;
    for (const [value, count] of counts) {
        if (count > bestCount) {
            best = value;
            bestCount = count;
            tied = false;
        } else if (count === bestCount) {
            tied = true;
        }
    }
    return tied ? null : best;
}

/// Each node's status with the reasons it is red, ordered by hostname and address (the server answers in
/// whatever order the answering node knows its members, so rows would jump between refreshes).
export function clusterHealth(nodes: ClusterNode[]): ClusterHealth {
    const live = nodes.filter((node) => node.alive);
    const basis = live.length > 0 ? live : nodes;
    const configHash = majority(basis.map((node) => node.config_hash));
    const version = majority(basis.map((node) => node.version));
    const rows = [...nodes]
        .sort((a, b) => a.hostname.localeCompare(b.hostname)
            || (a.api_address ?? '').localeCompare(b.api_address ?? '', undefined, { numeric: true })
            || a.id.localeCompare(b.id))
        .map((node) => {
            const reasons: string[] = [];
            if (!node.alive) {
                reasons.push('Server is down: the cluster gets no answer from it.');
            } else if (node.ready === false) {
                reasons.push('Draining: shutting down, finishing its work and refusing new connections.');
            }
            // With one live node there is nothing to disagree with.
            if (basis.length > 1 || !node.alive) {
                if (configHash === null) {
                    reasons.push('Configuration file mismatch: the servers do not agree on one configuration.');
                } else if (node.config_hash !== configHash) {
                    reasons.push('Configuration file mismatch: its configuration differs from the other servers\'.');
                }
                if (version === null) {
                    reasons.push('Server version mismatch: the servers do not agree on one version.');
                } else if (node.version !== version) {
                    reasons.push(`Server version mismatch: it runs ${node.version || 'an unknown version'}, the others ${version}.`);
                }
            }
            return { node, status: (reasons.length > 0 ? 'red' : 'green') as Status, reasons };
        });
    return { rows, configHash, version, red: rows.filter((row) => row.status === 'red').length };
}

/// One source of GET /api/v4/database/status (the master or a replica).
export type DatabaseSource = {
    role: string;
    source: string;
    reachable: boolean;
    in_rotation: boolean;
    in_recovery?: boolean;
    wal_position?: number;
    lag_bytes?: number;
    lag_seconds?: number;
    last_error?: string;
    checkouts?: number;
    checkout_wait_seconds?: number;
    probe_seconds?: number;
    pool_open: number;
    pool_idle: number;
    pool_max: number;
};

export type DatabaseStatus = { master: DatabaseSource; replicas: DatabaseSource[]; read_your_writes_keys?: number };

/// A database source is red when it cannot be reached, when a replica is out of the read
/// rotation (the nodes stopped reading from it: down or too far behind), or when the master is
/// in recovery (a standby: it takes no writes).
export function sourceHealth(source: DatabaseSource, replica: boolean): { status: Status; reasons: string[] } {
    const reasons: string[] = [];
    if (!source.reachable) {
        reasons.push(`Unreachable${source.last_error ? `: ${source.last_error}` : '.'}`);
    } else if (replica && !source.in_rotation) {
        reasons.push('Out of rotation: reads go to the other sources until it catches up.');
    }
    if (!replica && source.reachable && source.in_recovery) {
        reasons.push('In recovery: this is a standby and takes no writes.');
    }
    return { status: reasons.length > 0 ? 'red' : 'green', reasons };
}

/// "12 B", "3.4 KiB", "1.2 MiB".
export function formatBytes(bytes: number | undefined): string {
    if (bytes === undefined || bytes === null || Number.isNaN(bytes)) {
        return '—';
    }
    const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    let value = bytes;
    let unit = 0;
    while (value >= 1024 && unit < units.length - 1) {
        value /= 1024;
        unit += 1;
    }
    return unit === 0 ? `${value} B` : `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}

/// "just now", "12 s ago", "3 min ago", "2 h ago", "4 days ago".
export function formatAgo(at: number | undefined, now: number): string {
    if (!at) {
        return '—';
    }
    const seconds = Math.max(0, Math.round((now - at) / 1000));
    if (seconds < 2) {
        return 'just now';
    }
    if (seconds < 60) {
        return `${seconds} s ago`;
    }
    if (seconds < 3600) {
        return `${Math.floor(seconds / 60)} min ago`;
    }
    if (seconds < 86400) {
        return `${Math.floor(seconds / 3600)} h ago`;
    }
    const days = Math.floor(seconds / 86400);
    return `${days} day${days === 1 ? '' : 's'} ago`;
}

/// Whether the configuration refuses changes: Mattermost's ClusterSettings.ReadOnlyConfig, which
/// applies when clustering is on (the server refuses PUT /config then).
export function configReadOnly(config: { ClusterSettings?: { Enable?: boolean; ReadOnlyConfig?: boolean } } | null): boolean {
    return Boolean(config?.ClusterSettings?.Enable && config.ClusterSettings.ReadOnlyConfig);
}

export const READ_ONLY_REASON = 'ReadOnlyConfig is set in the configuration: change it in config.json / the database and reload.';
