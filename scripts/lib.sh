# shellcheck shell=bash
# Helpers shared by scripts/*.sh. Source it; it runs nothing by itself.
#
#   repo_root            absolute path of the checkout
#   pg_bin               PostgreSQL 15 server programs (override with CHORUS_PG_BIN)
#   say / warn / die     messages
#   ensure_packages P..  apt-get install the Debian packages that are missing (apt-get update once)
#   ensure_postgres      the PostgreSQL 15 server programs and psql
#   cargo_target_dir     export CARGO_TARGET_DIR (build output outside the clone, reused by CI)
#   pg_account           the account PostgreSQL runs as (postgres refuses root)
#   as_pg CMD..          run CMD as that account
#   pid_alive PID [NAME] whether PID runs and (when NAME is given) runs a program called NAME
#   wait_for_http URL [SECONDS] [PID]   until URL answers 2xx; fails early if PID dies

# shellcheck disable=SC2034 # used by the scripts that source this file
repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
pg_bin=${CHORUS_PG_BIN:-/usr/lib/postgresql/15/bin}

say() { printf '==> %s\n' "$*"; }
warn() { printf 'warning: %s\n' "$*" >&2; }
die() {
    printf 'error: %s\n' "$*" >&2
    exit 1
}

as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        die "need root to run: $*"
    fi
}

_chorus_apt_updated=
ensure_packages() {
    local package
    local missing=()
    for package in "$@"; do
        if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed'; then
            missing+=("$package")
        fi
    done
    if [ ${#missing[@]} -eq 0 ]; then
        return 0
    fi
    command -v apt-get >/dev/null 2>&1 || die "missing packages ${missing[*]} and no apt-get to install them"
    say "installing Debian packages: ${missing[*]}"
    if [ -z "$_chorus_apt_updated" ]; then
        as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
        _chorus_apt_updated=1
    fi
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "${missing[@]}"
}

ensure_postgres() {
    if [ ! -x "$pg_bin/initdb" ]; then
        # Only the programs are wanted: stop the package from creating and starting a "main"
        # cluster on port 5432 (--force-confold above keeps this file).
        if [ ! -e /etc/postgresql-common/createcluster.conf ]; then
            as_root mkdir -p /etc/postgresql-common
            echo 'create_main_cluster = false' | as_root tee /etc/postgresql-common/createcluster.conf >/dev/null
        fi
        ensure_packages postgresql-15
        [ -x "$pg_bin/initdb" ] || die "$pg_bin/initdb is still missing after installing postgresql-15 (set CHORUS_PG_BIN?)"
    fi
    command -v psql >/dev/null 2>&1 || ensure_packages postgresql-client-15
}

cargo_target_dir() {
    export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/chorus/target}
    mkdir -p "$CARGO_TARGET_DIR"
}

# PostgreSQL's programs exit when run as root. As root, run them as `postgres` when that account
# exists, else as a `chorus-pg` system account created here; as anyone else, as ourselves.
# crates/testkit (os_account.rs) makes the same choice.
pg_account() {
    if [ "$(id -u)" -ne 0 ]; then
        id -un
        return 0
    fi
    local name
    for name in postgres chorus-pg; do
        if getent passwd "$name" >/dev/null; then
            echo "$name"
            return 0
        fi
    done
    useradd --system --no-create-home --shell /usr/sbin/nologin chorus-pg >/dev/null 2>&1 ||
        getent passwd chorus-pg >/dev/null ||
        die "could not create the chorus-pg account that PostgreSQL runs as"
    echo chorus-pg
}

as_pg() {
    if [ "$(id -u)" -ne 0 ]; then
        "$@"
        return
    fi
    local account
    account=$(pg_account)
    setpriv --reuid="$(id -u "$account")" --regid="$(id -g "$account")" --init-groups -- "$@"
}

# True when PID is a live process (zombies do not count) and, if NAME is given, runs a program
# called NAME (its /proc comm, which postgres's process titles do not change): a PID in an old pid
# file may since belong to something else.
pid_alive() {
    local pid=$1 name=${2:-}
    case "$pid" in '' | *[!0-9]*) return 1 ;; esac
    local stat
    stat=$(cat "/proc/$pid/stat" 2>/dev/null) || return 1
    local after_command=${stat##*) }
    [ "${after_command%% *}" != Z ] || return 1
    if [ -n "$name" ]; then
        [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$name" ] || return 1
    fi
    return 0
}

wait_for_http() {
    local url=$1 seconds=${2:-60} pid=${3:-}
    local deadline=$((SECONDS + seconds))
    while [ "$SECONDS" -lt "$deadline" ]; do
        if curl -fsS -o /dev/null --max-time 2 "$url" 2>/dev/null; then
            return 0
        fi
        if [ -n "$pid" ] && ! pid_alive "$pid"; then
            warn "process $pid exited while waiting for $url"
            return 1
        fi
        sleep 0.2
    done
    warn "$url did not answer within ${seconds}s"
    return 1
}

# npm ci in $1 when node_modules is missing or older than package-lock.json (npm ci wipes
# node_modules, so doing it every run only costs time and network); npm install when there is
# no lock file yet.
npm_install_in() {
    command -v npm >/dev/null 2>&1 || ensure_packages nodejs npm
    (
        cd "$1"
        if [ -f package-lock.json ]; then
            if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
                npm ci --no-audit --no-fund
            else
                echo "$1/node_modules is up to date with package-lock.json"
            fi
        else
            npm install --no-audit --no-fund
        fi
    )
}
