#!/usr/bin/env bash
# Runs Chorus on this machine: PostgreSQL and the chorus node(s), everything under ./data, all on
# 127.0.0.1. Safe to run again: what is already running is left alone. Stop with scripts/down.sh.
#
#   CHORUS_PORT      HTTP port of the first node (default 8065)
#   CHORUS_PG_PORT   PostgreSQL port (default 5544)
#   CHORUS_DATA_DIR  where data, logs and pid files live (default ./data)
#
# Layout: data/pg (PGDATA, kept between runs), data/pg.log, data/nodeN/{config.json,chorus.log,
# files/}, data/run/{postgres.pid,nodeN.pid}.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

data_dir=${CHORUS_DATA_DIR:-$repo_root/data}
run_dir=$data_dir/run
pg_data=$data_dir/pg
pg_log=$data_dir/pg.log
pg_port=${CHORUS_PG_PORT:-5544}
first_node_port=${CHORUS_PORT:-8065}
# One node for now; a later issue raises this (and puts NGINX in front).
node_count=1
database=chorus

node_port() { echo $((first_node_port + $1 - 1)); }
node_url() { echo "http://127.0.0.1:$(node_port "$1")"; }
port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
node_pid_file() { echo "$run_dir/node$1.pid"; }

pg_running() {
    [ -f "$pg_data/postmaster.pid" ] && as_pg "$pg_bin/pg_ctl" status -D "$pg_data" >/dev/null 2>&1
}

node_running() {
    local pid_file
    pid_file=$(node_pid_file "$1")
    [ -f "$pid_file" ] && pid_alive "$(cat "$pid_file")" chorus
}

prepare_dirs() {
    mkdir -p "$data_dir" "$run_dir"
    # PostgreSQL runs as another account and must reach data/pg.
    chmod 755 "$data_dir" "$run_dir"
    local account
    account=$(pg_account)
    if ! as_pg test -x "$data_dir"; then
        die "the $account account (PostgreSQL) cannot reach $data_dir; set CHORUS_DATA_DIR to a directory it can reach"
    fi
}

start_postgres() {
    local account
    account=$(pg_account)
    if pg_running; then
        # It may have been started on another port; use the one it listens on.
        pg_port=$(sed -n 4p "$pg_data/postmaster.pid")
        head -n1 "$pg_data/postmaster.pid" >"$run_dir/postgres.pid"
        say "PostgreSQL is already running on 127.0.0.1:$pg_port"
        return 0
    fi
    if [ ! -f "$pg_data/PG_VERSION" ]; then
        say "creating a PostgreSQL cluster in $pg_data"
        mkdir -p "$pg_data"
        chown "$account": "$pg_data"
        chmod 700 "$pg_data"
        (cd "$pg_data" && as_pg "$pg_bin/initdb" -D "$pg_data" -U chorus --auth=trust \
            --encoding=UTF8 --locale=C --no-instructions >/dev/null)
        # Port and socket go on the command line, so CHORUS_PG_PORT works for an existing cluster.
        cat >>"$pg_data/postgresql.conf" <<'CONF'

# Added by scripts/up.sh
listen_addresses = '127.0.0.1'
max_connections = 300
wal_level = replica
max_wal_senders = 10
hot_standby = on
CONF
    fi
    touch "$pg_log"
    chown "$account": "$pg_log"
    say "starting PostgreSQL on 127.0.0.1:$pg_port"
    # pg_ctl puts postgres in a session of its own, so it outlives this script and its terminal.
    # No Unix socket (-k ''): everything connects over 127.0.0.1.
    if ! (cd "$pg_data" && as_pg "$pg_bin/pg_ctl" start -D "$pg_data" -l "$pg_log" -w -t 60 \
        -o "-p $pg_port -k ''" >/dev/null); then
        tail -n 20 "$pg_log" >&2 || true
        die "PostgreSQL did not start (log above, full log in $pg_log)"
    fi
    head -n1 "$pg_data/postmaster.pid" >"$run_dir/postgres.pid"
}

ensure_database() {
    local psql=(psql -X -q -h 127.0.0.1 -p "$pg_port" -U chorus -d postgres -v ON_ERROR_STOP=1)
    if [ "$("${psql[@]}" -tAc "select 1 from pg_database where datname = '$database'")" != 1 ]; then
        say "creating database $database"
        "${psql[@]}" -c "create database $database" >/dev/null
    fi
}

build_chorus() {
    say "building chorus (release)"
    if ! (cd "$repo_root" && cargo build --release -p chorus --bin chorus); then
        die "building chorus failed (compiler output above). PostgreSQL is running on 127.0.0.1:$pg_port; scripts/down.sh stops it"
    fi
    chorus_binary=$CARGO_TARGET_DIR/release/chorus
}

start_node() {
    local node=$1
    local node_dir=$data_dir/node$node
    local port
    port=$(node_port "$node")
    if port_in_use "$port"; then
        die "127.0.0.1:$port is taken by another program; pick another port with CHORUS_PORT"
    fi
    mkdir -p "$node_dir/files"
    local log=$node_dir/chorus.log
    say "starting chorus node $node on 127.0.0.1:$port"
    # chorus writes Mattermost's defaults to config.json when it is missing; the env overrides
    # below win over the file. setsid: the node outlives this script and its terminal.
    MM_CONFIG="$node_dir/config.json" \
        MM_SQLSETTINGS_DRIVERNAME=postgres \
        MM_SQLSETTINGS_DATASOURCE="postgres://chorus@127.0.0.1:$pg_port/$database?sslmode=disable&connect_timeout=10" \
        MM_SERVICESETTINGS_LISTENADDRESS="127.0.0.1:$port" \
        MM_SERVICESETTINGS_SITEURL="$(node_url "$node")" \
        MM_TEAMSETTINGS_ENABLEOPENSERVER=true \
        MM_SERVICESETTINGS_ENABLEUSERACCESSTOKENS=true \
        MM_FILESETTINGS_DIRECTORY="$node_dir/files/" \
        setsid "$chorus_binary" --config "$node_dir/config.json" >>"$log" 2>&1 </dev/null &
    local pid=$!
    echo "$pid" >"$(node_pid_file "$node")"
    if ! wait_for_http "$(node_url "$node")/api/v4/system/ping" 60 "$pid"; then
        tail -n 30 "$log" >&2 || true
        die "chorus node $node did not become ready (log above, full log in $log); scripts/down.sh stops what did start"
    fi
}

all_running() {
    pg_running || return 1
    local node
    for node in $(seq 1 "$node_count"); do
        node_running "$node" || return 1
    done
}

print_banner() {
    local relative_data=${data_dir#"$repo_root"/}
    echo
    echo "Chorus is running at $(node_url 1)"
    echo "  The first user to sign up becomes the system admin."
    echo "  Logs: $relative_data/node1/chorus.log (node), $relative_data/pg.log (PostgreSQL)"
    echo "  Database: postgres://chorus@127.0.0.1:$pg_port/$database"
    echo "  Stop it with: scripts/down.sh"
}

main() {
    if all_running; then
        pg_port=$(sed -n 4p "$pg_data/postmaster.pid")
        say "Chorus is already running"
        print_banner
        return 0
    fi
    ensure_postgres
    ensure_packages curl
    command -v cargo >/dev/null 2>&1 || die "cargo is missing: install Rust 1.95 (https://rustup.rs)"
    cargo_target_dir
    prepare_dirs

    start_postgres
    ensure_database

    local node
    for node in $(seq 1 "$node_count"); do
        if ! node_running "$node"; then
            [ -n "${chorus_binary:-}" ] || build_chorus
            start_node "$node"
        else
            say "node $node is already running at $(node_url "$node")"
        fi
    done
    print_banner
}

main "$@"
