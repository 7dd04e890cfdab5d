// Component tests of the client's state logic (post merges, unread counts, the outbox, resync):
// bundles each tests/unit/*.test.ts with esbuild for Node, with a minimal `window` (the modules
// read window.location at load), and runs them with node --test.
//
//   node tests/unit/run.mjs

import { build } from 'esbuild';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

const here = new URL('.', import.meta.url).pathname;
const out = mkdtempSync(join(tmpdir(), 'chorus-web-unit-'));
const entries = readdirSync(here).filter((name) => /\.test\.tsx?$/.test(name)).map((name) => join(here, name));

const windowStub = `globalThis.window ??= { location: { origin: 'http://chorus.test', protocol: 'http:', host: 'chorus.test', pathname: '/' },
    addEventListener() {}, history: { pushState() {}, replaceState() {} } };`;
try {
    await build({
        entryPoints: entries,
        bundle: true,
        platform: 'node',
        format: 'esm',
        outdir: out,
        outExtension: { '.js': '.mjs' },
        jsx: 'automatic',
        jsxImportSource: 'preact',
        banner: { js: `${windowStub}\nimport { createRequire } from 'node:module'; const require = createRequire(import.meta.url);` },
        logLevel: 'warning',
    });
    const files = readdirSync(out).filter((name) => name.endsWith('.mjs')).map((name) => join(out, name));
    const result = spawnSync(process.execPath, ['--test', ...files], { stdio: 'inherit' });
    process.exitCode = result.status ?? 1;
} finally {
    rmSync(out, { recursive: true, force: true });
}
