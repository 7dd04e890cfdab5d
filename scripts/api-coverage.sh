#!/usr/bin/env bash
# Which REST endpoints of the official `@mattermost/client` Chorus serves: starts a fresh node
# (through the test suite's Sandbox), probes every endpoint the client can call, and rewrites
# docs/api-coverage.md. Prints "served N of M". See tests/compat/js/endpoints.mjs for the rule.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$repo_root"
ensure_postgres
command -v node >/dev/null 2>&1 || ensure_packages nodejs npm
[ -d tests/compat/js/node_modules/@mattermost/client ] || (cd tests/compat/js && npm ci --no-audit --no-fund)
cargo_target_dir
CHORUS_API_COVERAGE_WRITE=1 cargo test -q -p chorus --test it \
    coverage::the_served_share_of_the_official_client_never_drops -- --nocapture 2>&1 |
    grep -E 'endpoints served|test result|panicked' || true
grep -m1 'endpoints served' docs/api-coverage.md
