// Builds the web client into dist/: static/ holds the bundles under content-hashed names (served
// with long immutable caching), index.html names them (served with no-cache for every
// non-API path). The chorus binary embeds dist/ (crates/api/src/web.rs).
//
//   node build.mjs            # once
//   node build.mjs --watch    # rebuild on change (a debug node reads dist/ from disk)

import { build, context } from 'esbuild';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { basename } from 'node:path';

const dist = new URL('./dist/', import.meta.url).pathname;
const watch = process.argv.includes('--watch');

const options = {
    entryPoints: ['src/main.tsx'],
    bundle: true,
    minify: !watch,
    sourcemap: watch ? 'inline' : false,
    format: 'esm',
    // The System Console is a chunk of its own, loaded by a dynamic import when it is opened.
    splitting: true,
    chunkNames: 'static/[name]-[hash]',
    target: ['chrome110', 'firefox110', 'safari16'],
    jsx: 'automatic',
    jsxImportSource: 'preact',
    outdir: dist,
    entryNames: 'static/[name]-[hash]',
    assetNames: 'static/[name]-[hash]',
    loader: { '.svg': 'file', '.png': 'file', '.woff2': 'file' },
    metafile: true,
    logLevel: 'warning',
    define: { 'process.env.NODE_ENV': watch ? '"development"' : '"production"' },
};

function writeIndex(metafile) {
    const outputs = Object.keys(metafile.outputs).map((path) => '/static/' + basename(path));
    // Only the entry's script goes in the page; shared and lazy chunks are imported by it.
    const entries = Object.entries(metafile.outputs).filter(([, output]) => output.entryPoint === options.entryPoints[0])
        .map(([path]) => '/static/' + basename(path));
    const scripts = entries.filter((path) => path.endsWith('.js'))
        .map((path) => `<script type="module" src="${path}"></script>`).join('\n    ');
    const styles = outputs.filter((path) => path.endsWith('.css'))
        .map((path) => `<link rel="stylesheet" href="${path}">`).join('\n    ');
    writeFileSync(dist + 'index.html', `<!doctype html>
<html lang="en">
<head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <title>Chorus</title>
    ${styles}
</head>
<body>
    <div id="root"></div>
    ${scripts}
</body>
</html>
`);
}

rmSync(dist, { recursive: true, force: true });
mkdirSync(dist + 'static', { recursive: true });
if (watch) {
    const ctx = await context({
        ...options,
        plugins: [{ name: 'index', setup(b) { b.onEnd((result) => result.metafile && writeIndex(result.metafile)); } }],
    });
    await ctx.watch();
} else {
    const result = await build(options);
    writeIndex(result.metafile);
}
