import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
    clusterHealth, configReadOnly, formatAgo, formatBytes, majority, sourceHealth,
    type ClusterNode, type DatabaseSource,
} from '../../src/admin/health';

const node = (hostname: string, extra: Partial<ClusterNode> = {}): ClusterNode => ({
    id: `id-${hostname}`, hostname, version: '10.5.0', config_hash: 'h1', alive: true, ready: true, ...extra,
});

const statuses = (nodes: ClusterNode[]) =>
    Object.fromEntries(clusterHealth(nodes).rows.map((row) => [row.node.hostname, row.status]));

test('three live nodes with one configuration and one version are all green', () => {
    const health = clusterHealth([node('a'), node('b'), node('c')]);
    assert.deepEqual(health.rows.map((row) => row.status), ['green', 'green', 'green']);
    assert.equal(health.red, 0);
    assert.equal(health.configHash, 'h1');
    assert.equal(health.version, '10.5.0');
});

test('a node the cluster no longer hears from is red: server is down', () => {
    const health = clusterHealth([node('a'), node('b', { alive: false, ready: false }), node('c')]);
    assert.deepEqual(statuses(health.rows.map((row) => row.node)), { a: 'green', b: 'red', c: 'green' });
    const b = health.rows.find((row) => row.node.hostname === 'b')!;
    assert.match(b.reasons.join(' '), /Server is down/);
    assert.equal(health.red, 1);
});

test('the node whose configuration differs from the majority is red, not the others', () => {
    // The answering node is the odd one: the server flags the two others, the console does not.
    const nodes = [
        node('a', { config_hash: 'h2', is_self: true }),
        node('b', { config_mismatch: true }),
        node('c', { config_mismatch: true }),
    ];
    const health = clusterHealth(nodes);
    assert.deepEqual(statuses(nodes), { a: 'red', b: 'green', c: 'green' });
    assert.match(health.rows[0].reasons.join(' '), /Configuration file mismatch/);
});

test('a node on another version is red with the versions named', () => {
    const health = clusterHealth([node('a'), node('b', { version: '10.6.0' }), node('c')]);
    const b = health.rows.find((row) => row.node.hostname === 'b')!;
    assert.equal(b.status, 'red');
    assert.match(b.reasons.join(' '), /Server version mismatch: it runs 10\.6\.0, the others 10\.5\.0/);
    assert.equal(health.rows.filter((row) => row.status === 'red').length, 1);
});

test('two live nodes that disagree are both red: there is no majority to trust', () => {
    const nodes = [node('a'), node('b', { config_hash: 'h2' }), node('c', { alive: false, config_hash: 'h2' })];
    const health = clusterHealth(nodes);
    assert.deepEqual(statuses(nodes), { a: 'red', b: 'red', c: 'red' });
    assert.equal(health.configHash, null);
});

test('a dead node does not vote: the live nodes decide the majority', () => {
    const nodes = [node('a', { config_hash: 'old', alive: false }), node('b', { config_hash: 'old', alive: false }), node('c', { config_hash: 'new' })];
    const health = clusterHealth(nodes);
    assert.equal(health.configHash, 'new');
    assert.deepEqual(statuses(nodes), { a: 'red', b: 'red', c: 'green' });
    assert.match(health.rows[0].reasons.join(' '), /down.*Configuration file mismatch/s);
});

test('a lone live node is green; a draining node is red', () => {
    assert.deepEqual(statuses([node('a', { config_hash: 'x', version: '1' })]), { a: 'green' });
    const draining = clusterHealth([node('a'), node('b', { ready: false })]);
    assert.deepEqual(draining.rows.map((row) => row.status), ['green', 'red']);
    assert.match(draining.rows[1].reasons[0], /Draining/);
});

test('rows are ordered by hostname whatever order the server answers in', () => {
    const health = clusterHealth([node('c'), node('a'), node('b')]);
    assert.deepEqual(health.rows.map((row) => row.node.hostname), ['a', 'b', 'c']);
    // Nodes on one host (a test cluster) go by their API address, port 10 after port 9.
    const local = clusterHealth([
        node('127.0.0.1', { id: 'x', api_address: '127.0.0.1:10' }),
        node('127.0.0.1', { id: 'y', api_address: '127.0.0.1:9' }),
    ]);
    assert.deepEqual(local.rows.map((row) => row.node.id), ['y', 'x']);
});

test('majority: the most common value, or null on a tie or nothing', () => {
    assert.equal(majority(['x', 'y', 'x']), 'x');
    assert.equal(majority(['x', 'y']), null);
    assert.equal(majority([]), null);
});

const source = (extra: Partial<DatabaseSource> = {}): DatabaseSource => ({
    role: 'replica', source: 'r1', reachable: true, in_rotation: true, pool_open: 1, pool_idle: 1, pool_max: 10, ...extra,
});

test('database sources: unreachable or out of rotation is red, with the server\'s error', () => {
    assert.equal(sourceHealth(source(), true).status, 'green');
    const down = sourceHealth(source({ reachable: false, in_rotation: false, last_error: 'connection refused' }), true);
    assert.equal(down.status, 'red');
    assert.deepEqual(down.reasons, ['Unreachable: connection refused']);
    assert.match(sourceHealth(source({ in_rotation: false }), true).reasons[0], /Out of rotation/);
    // The master is never "in rotation" for reads in the same sense; only its reachability counts.
    assert.equal(sourceHealth(source({ role: 'master', in_rotation: false }), false).status, 'green');
    assert.equal(sourceHealth(source({ role: 'master', in_recovery: true }), false).status, 'red');
});

test('read-only configuration: only when clustering is on and ReadOnlyConfig is set', () => {
    assert.equal(configReadOnly({ ClusterSettings: { Enable: true, ReadOnlyConfig: true } }), true);
    assert.equal(configReadOnly({ ClusterSettings: { Enable: false, ReadOnlyConfig: true } }), false);
    assert.equal(configReadOnly({ ClusterSettings: { Enable: true, ReadOnlyConfig: false } }), false);
    assert.equal(configReadOnly(null), false);
});

test('formatting: bytes and how long ago', () => {
    assert.equal(formatBytes(0), '0 B');
    assert.equal(formatBytes(1536), '1.5 KiB');
    assert.equal(formatBytes(50 * 1024 * 1024), '50 MiB');
    assert.equal(formatBytes(undefined), '—');
    assert.equal(formatAgo(10_000, 10_500), 'just now');
    assert.equal(formatAgo(10_000, 25_000), '15 s ago');
    assert.equal(formatAgo(0, 25_000), '—');
    assert.equal(formatAgo(1, 1 + 3 * 3600_000), '3 h ago');
});
