#!/usr/bin/env bash
# The chaos suite (docs/chaos.md): a 3-node cluster behind NGINX on a PostgreSQL primary and
# replica, simulated users posting and listening through NGINX, faults injected one after the
# other, and a checker that proves nothing acknowledged was lost or duplicated and every
# listener got every post once, in order. Exits non-zero when the checker finds a failure.
#
#   scripts/chaos.sh                 short form: every fault once (kill, stop, partition,
#                                    restart, rolling restart, database failover; about 2 minutes;
#                                    CI runs it). `--all` is the same
#   scripts/chaos.sh --long          long form: 10 minutes of faults, a SIGKILL every few faults
#                                    so the failover figure has several trials
#   scripts/chaos.sh [--long] ARGS   further chorus-chaos options (--seed N, --rate, --faults …;
#                                    see `chorus-chaos --help`)
#
# Needs root (network namespaces); installs iproute2, nginx-light and PostgreSQL 15 when missing.
# Bounded: the run is killed (SIGTERM, which still cleans up) if it overruns its time limit.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$repo_root"

# The short form (CI) runs every fault once: chorus-chaos's default --faults.
form_args=(--duration 1)
time_limit=300
if [ "${1:-}" = "--all" ]; then
    shift
elif [ "${1:-}" = "--long" ]; then
    shift
    form_args=(--duration 600 --faults kill,stop,kill,partition,kill,restart,kill,rolling,pg-failover)
    time_limit=1200
fi

ensure_postgres
ensure_packages iproute2
command -v nginx >/dev/null 2>&1 || ensure_packages nginx-light
cargo_target_dir
cargo build -p chorus -p chorus-chaos
say "running chorus-chaos ${form_args[*]} $*"
as_root timeout --signal=TERM --kill-after=30 "$time_limit" \
    "$CARGO_TARGET_DIR/debug/chorus-chaos" --chorus-bin "$CARGO_TARGET_DIR/debug/chorus" "${form_args[@]}" "$@"
