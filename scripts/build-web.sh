#!/usr/bin/env bash
# Builds the web client (web/) into web/dist, which the chorus binary embeds: npm packages
# from web/package-lock.json, then esbuild (web/build.mjs). scripts/up.sh and scripts/test.sh
# run it before building chorus; run it yourself after changing web/ (or keep
# `cd web && node build.mjs --watch` running: a debug build reads web/dist from disk).
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

say "building the web client (web/ -> web/dist)"
npm_install_in "$repo_root/web"
(cd "$repo_root/web" && node build.mjs)
size=$(gzip -c "$repo_root"/web/dist/static/*.js | wc -c)
say "web client built: $(ls "$repo_root/web/dist/static" | tr '\n' ' ')($((size / 1024)) KiB of JavaScript gzipped)"
