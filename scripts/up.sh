#!/usr/bin/env bash
# Runs a local Chorus cluster on this machine: PostgreSQL, three chorus nodes (clustered: gossip
# and node-to-node messages on 127.0.0.1) and NGINX in front of them, everything under ./data,
# all on 127.0.0.1. Safe to run again: what is already running is left alone. Stop with
# scripts/down.sh.
#
#   CHORUS_PORT      NGINX port, where clients connect (default 8065); node N listens on
#                    CHORUS_PORT+N and gossips on 8074+N (CHORUS_GOSSIP_PORT)
#   CHORUS_NODES     how many nodes (default 3)
#   CHORUS_METRICS_PORT  node N serves Prometheus metrics on CHORUS_METRICS_PORT+N (default
#                    9067: 9068, 9069, ...); deploy/prometheus/prometheus.yml scrapes them
#   CHORUS_PG_PORT   PostgreSQL primary port (default 5544); its streaming replica listens on
#                    the next port (default 5545) and serves the nodes' reads
#   CHORUS_DATA_DIR  where data, logs and pid files live (default ./data)
#   CHORUS_BIN       a chorus binary to run instead of building one (cargo build --release)
#   CHORUS_CONFIG_IN_DATABASE  1: every node reads one configuration from the database's
#                    `configurations` table (--config postgres://…) instead of its own
#                    data/nodeN/config.json; the per-node keys below stay in each environment
#
# Layout: data/pg (PGDATA, kept between runs), data/pg.log, data/pg-replica (a pg_basebackup
# copy of data/pg, streaming from it), data/pg-replica.log, data/nodeN/{config.json,chorus.log},
# data/files/ (the file store all nodes share), data/nginx/, data/run/{postgres,nodeN,nginx}.pid.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

data_dir=${CHORUS_DATA_DIR:-$repo_root/data}
run_dir=$data_dir/run
pg_data=$data_dir/pg
pg_log=$data_dir/pg.log
pg_port=${CHORUS_PG_PORT:-5544}
replica_data=$data_dir/pg-replica
replica_log=$data_dir/pg-replica.log
nginx_port=${CHORUS_PORT:-8065}
first_gossip_port=${CHORUS_GOSSIP_PORT:-8074}
first_metrics_port=${CHORUS_METRICS_PORT:-9067}
node_count=${CHORUS_NODES:-3}
database=chorus
cluster_name=chorus-local
nginx_dir=$data_dir/nginx

node_port() { echo $((nginx_port + $1)); }
gossip_port() { echo $((first_gossip_port + $1)); }
metrics_port() { echo $((first_metrics_port + $1)); }
nginx_url() { echo "http://127.0.0.1:$nginx_port"; }
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

replica_running() {
    [ -f "$replica_data/postmaster.pid" ] && as_pg "$pg_bin/pg_ctl" status -D "$replica_data" >/dev/null 2>&1
}

# A hot standby streaming from the primary (pg_basebackup -R writes primary_conninfo and
# standby.signal). The nodes read from it (DataSourceReplicas) and fall back to the primary.
start_replica() {
    local account
    account=$(pg_account)
    replica_port=$((pg_port + 1))
    if replica_running; then
        replica_port=$(sed -n 4p "$replica_data/postmaster.pid")
        head -n1 "$replica_data/postmaster.pid" >"$run_dir/postgres-replica.pid"
        say "PostgreSQL replica is already running on 127.0.0.1:$replica_port"
        return 0
    fi
    if [ ! -f "$replica_data/PG_VERSION" ]; then
        say "copying the primary into $replica_data (pg_basebackup)"
        mkdir -p "$replica_data"
        chown "$account": "$replica_data"
        chmod 700 "$replica_data"
        (cd "$replica_data" && as_pg "$pg_bin/pg_basebackup" -D "$replica_data" -h 127.0.0.1 \
            -p "$pg_port" -U chorus -R -X stream -c fast) || die "pg_basebackup from 127.0.0.1:$pg_port failed"
    fi
    touch "$replica_log"
    chown "$account": "$replica_log"
    say "starting the PostgreSQL replica on 127.0.0.1:$replica_port"
    if ! (cd "$replica_data" && as_pg "$pg_bin/pg_ctl" start -D "$replica_data" -l "$replica_log" -w -t 60 \
        -o "-p $replica_port -k ''" >/dev/null); then
        tail -n 20 "$replica_log" >&2 || true
        die "the PostgreSQL replica did not start (log above, full log in $replica_log)"
    fi
    head -n1 "$replica_data/postmaster.pid" >"$run_dir/postgres-replica.pid"
}

ensure_database() {
    local psql=(psql -X -q -h 127.0.0.1 -p "$pg_port" -U chorus -d postgres -v ON_ERROR_STOP=1)
    if [ "$("${psql[@]}" -tAc "select 1 from pg_database where datname = '$database'")" != 1 ]; then
        say "creating database $database"
        "${psql[@]}" -c "create database $database" >/dev/null
    fi
}

build_chorus() {
    if [ -n "${CHORUS_BIN:-}" ]; then
        [ -x "$CHORUS_BIN" ] || die "CHORUS_BIN=$CHORUS_BIN is not an executable file"
        chorus_binary=$CHORUS_BIN
        return
    fi
    "$repo_root/scripts/build-web.sh" || die "building the web client failed (output above)"
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
    mkdir -p "$node_dir" "$data_dir/files"
    local log=$node_dir/chorus.log
    say "starting chorus node $node on 127.0.0.1:$port"
    # chorus writes Mattermost's defaults to config.json (or the configurations table) when it
    # is missing; the env overrides below win over it. setsid: the node outlives this script and
    # its terminal.
    local config_source=$node_dir/config.json
    if [ "${CHORUS_CONFIG_IN_DATABASE:-0}" = 1 ]; then
        config_source="postgres://chorus@127.0.0.1:$pg_port/$database?sslmode=disable&connect_timeout=10"
    fi
    MM_CONFIG="$config_source" \
        MM_SQLSETTINGS_DRIVERNAME=postgres \
        MM_SQLSETTINGS_DATASOURCE="postgres://chorus@127.0.0.1:$pg_port/$database?sslmode=disable&connect_timeout=10" \
        MM_SQLSETTINGS_DATASOURCEREPLICAS="postgres://chorus@127.0.0.1:$replica_port/$database?sslmode=disable&connect_timeout=10" \
        MM_SERVICESETTINGS_LISTENADDRESS="127.0.0.1:$port" \
        MM_SERVICESETTINGS_SITEURL="$(nginx_url)" \
        MM_SERVICESETTINGS_TRUSTEDPROXYIPHEADER=X-Real-IP \
        MM_TEAMSETTINGS_ENABLEOPENSERVER=true \
        MM_SERVICESETTINGS_ENABLEUSERACCESSTOKENS=true \
        MM_FILESETTINGS_DIRECTORY="$data_dir/files/" \
        MM_CLUSTERSETTINGS_ENABLE=true \
        MM_CLUSTERSETTINGS_CLUSTERNAME="$cluster_name" \
        MM_CLUSTERSETTINGS_OVERRIDEHOSTNAME=127.0.0.1 \
        MM_CLUSTERSETTINGS_BINDADDRESS=127.0.0.1 \
        MM_CLUSTERSETTINGS_GOSSIPPORT="$(gossip_port "$node")" \
        MM_CLUSTERSETTINGS_READONLYCONFIG=true \
        MM_LOGSETTINGS_FILELOCATION="$node_dir/logs" \
        MM_METRICSSETTINGS_ENABLE=true \
        MM_METRICSSETTINGS_LISTENADDRESS="127.0.0.1:$(metrics_port "$node")" \
        setsid "$chorus_binary" --config "$config_source" >>"$log" 2>&1 </dev/null &
    local pid=$!
    echo "$pid" >"$(node_pid_file "$node")"
    if ! wait_for_http "$(node_url "$node")/api/v4/system/ping" 60 "$pid"; then
        tail -n 30 "$log" >&2 || true
        die "chorus node $node did not become ready (log above, full log in $log); scripts/down.sh stops what did start"
    fi
}

nginx_running() {
    [ -f "$run_dir/nginx.pid" ] && pid_alive "$(cat "$run_dir/nginx.pid")" nginx
}

# NGINX in front of every node, from deploy/nginx/local.conf.template (the same proxy rules as
# the operator sample deploy/nginx/chorus.conf).
start_nginx() {
    if nginx_running; then
        say "NGINX is already running at $(nginx_url)"
        return 0
    fi
    if port_in_use "$nginx_port"; then
        die "127.0.0.1:$nginx_port is taken by another program; pick another port with CHORUS_PORT"
    fi
    mkdir -p "$nginx_dir/tmp"
    local upstreams="" node
    for node in $(seq 1 "$node_count"); do
        upstreams+="        server 127.0.0.1:$(node_port "$node") max_fails=1 fail_timeout=5s;"$'\n'
    done
    local template=$repo_root/deploy/nginx/local.conf.template
    local rendered=$nginx_dir/nginx.conf
    awk -v listen="127.0.0.1:$nginx_port" -v prefix="$nginx_dir" -v upstreams="$upstreams" '
        /^@UPSTREAMS@$/ { printf "%s", upstreams; next }
        { gsub(/@LISTEN@/, listen); gsub(/@PREFIX@/, prefix); print }
    ' "$template" >"$rendered"
    say "starting NGINX on $(nginx_url)"
    nginx -t -q -c "$rendered" -p "$nginx_dir" || die "the rendered NGINX config $rendered is invalid"
    setsid nginx -c "$rendered" -p "$nginx_dir" >>"$nginx_dir/nginx.out" 2>&1 </dev/null &
    echo $! >"$run_dir/nginx.pid"
    if ! wait_for_http "$(nginx_url)/api/v4/system/ping" 30 "$(cat "$run_dir/nginx.pid")"; then
        tail -n 20 "$nginx_dir/error.log" >&2 || true
        die "NGINX did not answer on $(nginx_url)"
    fi
}

all_running() {
    pg_running || return 1
    replica_running || return 1
    nginx_running || return 1
    local node
    for node in $(seq 1 "$node_count"); do
        node_running "$node" || return 1
    done
}

print_banner() {
    local relative_data=${data_dir#"$repo_root"/}
    echo
    echo "Chorus is running at $(nginx_url)  (NGINX in front of $node_count nodes)"
    echo "  The first user to sign up becomes the system admin."
    local node
    for node in $(seq 1 "$node_count"); do
        echo "  Node $node: $(node_url "$node")  metrics: http://127.0.0.1:$(metrics_port "$node")/metrics  log: $relative_data/node$node/chorus.log"
    done
    echo "  Logs: $relative_data/pg.log (PostgreSQL), $relative_data/nginx/ (NGINX)"
    echo "  Database: postgres://chorus@127.0.0.1:$pg_port/$database (primary),"
    echo "            postgres://chorus@127.0.0.1:$replica_port/$database (streaming replica, serves reads)"
    echo "  Database status (admins): $(nginx_url)/api/v4/database/status"
    echo "  Stop it with: scripts/down.sh"
}

main() {
    if all_running; then
        pg_port=$(sed -n 4p "$pg_data/postmaster.pid")
        replica_port=$(sed -n 4p "$replica_data/postmaster.pid")
        say "Chorus is already running"
        print_banner
        return 0
    fi
    ensure_postgres
    ensure_packages curl
    command -v nginx >/dev/null 2>&1 || ensure_packages nginx-light
    command -v cargo >/dev/null 2>&1 || die "cargo is missing: install Rust 1.95 (https://rustup.rs)"
    cargo_target_dir
    prepare_dirs

    start_postgres
    ensure_database
    start_replica

    local node
    for node in $(seq 1 "$node_count"); do
        if ! node_running "$node"; then
            [ -n "${chorus_binary:-}" ] || build_chorus
            start_node "$node"
        else
            say "node $node is already running at $(node_url "$node")"
        fi
    done
    start_nginx
    print_banner
}

main "$@"
