#!/usr/bin/env bash
# Stops what scripts/up.sh started: the chorus nodes, then PostgreSQL, each by the PID in its
# pid file under data/run (never by process name). Data stays; scripts/up.sh starts it again.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

data_dir=${CHORUS_DATA_DIR:-$repo_root/data}
run_dir=$data_dir/run

# stop_pid_file FILE PROGRAM SIGNAL SECONDS DESCRIPTION
# Sends SIGNAL to the PID in FILE if that process still runs PROGRAM, waits up to SECONDS, then
# SIGKILLs it.
stop_pid_file() {
    local pid_file=$1 program=$2 signal=$3 seconds=$4 description=$5
    [ -f "$pid_file" ] || return 1
    local pid
    pid=$(cat "$pid_file")
    if ! pid_alive "$pid" "$program"; then
        rm -f "$pid_file"
        return 1
    fi
    say "stopping $description (pid $pid)"
    kill -s "$signal" "$pid" 2>/dev/null || true
    local deadline=$((SECONDS + seconds))
    while pid_alive "$pid" "$program" && [ "$SECONDS" -lt "$deadline" ]; do
        sleep 0.2
    done
    if pid_alive "$pid" "$program"; then
        warn "$description did not stop within ${seconds}s; sending SIGKILL"
        kill -s KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$pid_file"
    return 0
}

stopped_something=
shopt -s nullglob
# NGINX first, so no new requests arrive; SIGQUIT lets it finish open requests.
if stop_pid_file "$run_dir/nginx.pid" nginx QUIT 15 "NGINX"; then
    stopped_something=1
fi
# Nodes first: on SIGTERM they drain (ping answers 503, clients are told to reconnect).
for pid_file in "$run_dir"/node*.pid; do
    node=$(basename "$pid_file" .pid)
    if stop_pid_file "$pid_file" chorus TERM 30 "chorus $node"; then
        stopped_something=1
    fi
done
# SIGINT is PostgreSQL's fast shutdown: disconnect clients, checkpoint, exit. Replica first.
if stop_pid_file "$run_dir/postgres-replica.pid" postgres INT 60 "PostgreSQL replica"; then
    stopped_something=1
fi
if stop_pid_file "$run_dir/postgres.pid" postgres INT 60 "PostgreSQL"; then
    stopped_something=1
fi

if [ -n "$stopped_something" ]; then
    say "Chorus is stopped; scripts/up.sh starts it again (data is kept in ${data_dir#"$repo_root"/})"
else
    say "nothing was running"
fi
