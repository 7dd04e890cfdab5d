#!/usr/bin/env bash
# The whole test suite, as CI runs it (.ci/run): installs what is missing, then formatting, build,
# every test and the short chaos suite (scripts/chaos.sh: every fault once). Each test that needs PostgreSQL starts
# its own (crates/testkit); the end-to-end tests drive the official JS and Python clients from
# tests/compat.
#
# Works unattended (CI=true, no stdin). Prints a summary; exits non-zero if any step failed.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$repo_root"
exec </dev/null

compat_js_dir=$repo_root/tests/compat/js
compat_py_dir=$repo_root/tests/compat/python
compat_venv=$compat_py_dir/.venv
s3_dir=$repo_root/tests/s3
s3_venv=$s3_dir/.venv

step_names=()
step_results=()
step_seconds=()
failed=

# run_step NAME COMMAND...: runs COMMAND, records PASS or FAIL and how long it took.
# COMMAND runs in a background subshell: bash ignores `set -e` inside anything whose status is
# tested (`cmd || ...`), and shell-function steps must stop at their first failing command.
run_step() {
    local name=$1
    shift
    local started=$SECONDS status=0
    printf '\n==> %s: %s\n' "$name" "$*"
    ("$@") &
    wait "$!" || status=$?
    step_names+=("$name")
    step_seconds+=($((SECONDS - started)))
    if [ "$status" -eq 0 ]; then
        step_results+=(PASS)
    else
        step_results+=("FAIL (exit $status)")
        failed=1
    fi
    return "$status"
}

skip_step() {
    step_names+=("$1")
    step_results+=("SKIP ($2)")
    step_seconds+=(0)
}

web_unit_tests() {
    cd "$repo_root/web"
    npx tsc --noEmit -p .
    node tests/unit/run.mjs
}

install_system() {
    ensure_postgres
    ensure_packages curl
    command -v nginx >/dev/null 2>&1 || ensure_packages nginx-light
    # operations::prometheus_scrapes_every_node runs a real Prometheus against the cluster.
    command -v prometheus >/dev/null 2>&1 || ensure_packages prometheus
    # web:: tests drive Debian's chromium; the emoji font makes their screenshots show emoji.
    command -v chromium >/dev/null 2>&1 || ensure_packages chromium
    ensure_packages fonts-noto-color-emoji
    command -v cargo >/dev/null 2>&1 || die "cargo is missing: install Rust 1.95 (https://rustup.rs)"
    if ! cargo fmt --version >/dev/null 2>&1; then
        command -v rustup >/dev/null 2>&1 || die "rustfmt is missing and there is no rustup to add it"
        rustup component add rustfmt
    fi
}

install_js() {
    npm_install_in "$compat_js_dir"
}

# A venv at tests/compat/python/.venv; pip install again only when requirements.txt changed.
install_python() {
    if [ ! -x "$compat_venv/bin/python" ]; then
        if ! python3 -m venv "$compat_venv"; then
            ensure_packages python3-venv
            rm -rf "$compat_venv"
            python3 -m venv "$compat_venv"
        fi
    fi
    local requirements=$compat_py_dir/requirements.txt
    local stamp=$compat_venv/.chorus-requirements.sha256
    if [ ! -f "$requirements" ]; then
        echo "no $requirements yet: nothing to install"
        return 0
    fi
    local wanted
    wanted=$(sha256sum "$requirements" | cut -d' ' -f1)
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$wanted" ]; then
        echo "the venv is up to date with requirements.txt"
        return 0
    fi
    "$compat_venv/bin/python" -m pip install --disable-pip-version-check -q -r "$requirements"
    echo "$wanted" >"$stamp"
}

# The S3-compatible server the file-storage tests start themselves (moto[server] from PyPI, in
# tests/s3/.venv); pip install again only when tests/s3/requirements.txt changed. The tests fail,
# never skip, when it is missing.
install_s3() {
    if [ ! -x "$s3_venv/bin/python" ]; then
        if ! python3 -m venv "$s3_venv"; then
            ensure_packages python3-venv
            rm -rf "$s3_venv"
            python3 -m venv "$s3_venv"
        fi
    fi
    local requirements=$s3_dir/requirements.txt
    local stamp=$s3_venv/.chorus-requirements.sha256
    local wanted
    wanted=$(sha256sum "$requirements" | cut -d' ' -f1)
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$wanted" ] && [ -x "$s3_venv/bin/moto_server" ]; then
        echo "the S3 venv is up to date with requirements.txt"
        return 0
    fi
    "$s3_venv/bin/python" -m pip install --disable-pip-version-check -q -r "$requirements"
    [ -x "$s3_venv/bin/moto_server" ] || die "pip installed $requirements but $s3_venv/bin/moto_server is missing"
    echo "$wanted" >"$stamp"
}

print_summary() {
    local index
    echo
    echo "==================== test summary ===================="
    for index in "${!step_names[@]}"; do
        printf '  %-28s %-30s %6ss\n' "${step_names[$index]}" "${step_results[$index]}" "${step_seconds[$index]}"
    done
    echo "======================================================"
    if [ -n "$failed" ]; then
        echo "FAILED (total ${SECONDS}s)"
    else
        echo "ALL PASSED (total ${SECONDS}s)"
    fi
}

main() {
    trap print_summary EXIT

    run_step "install system packages" install_system || exit 1
    cargo_target_dir
    echo "CARGO_TARGET_DIR=$CARGO_TARGET_DIR"

    if [ -d "$compat_js_dir" ]; then
        run_step "install js compat deps" install_js || true
        export CHORUS_COMPAT_JS_DIR=$compat_js_dir
    else
        skip_step "install js compat deps" "no tests/compat/js"
    fi
    if [ -d "$compat_py_dir" ]; then
        run_step "install python compat deps" install_python || true
        export CHORUS_COMPAT_PY=$compat_venv/bin/python
    else
        skip_step "install python compat deps" "no tests/compat/python"
    fi

    run_step "install s3 test server" install_s3 || true
    export CHORUS_MOTO_SERVER=$s3_venv/bin/moto_server

    # Before cargo: the binary embeds web/dist, and web:: tests fetch it.
    run_step "build web client" "$repo_root/scripts/build-web.sh" || true
    # The client's state logic (post merges, unreads, outbox, drafts, uploads, the HA rule).
    run_step "web client unit tests" web_unit_tests || true
    run_step "cargo fmt --check" cargo fmt --all -- --check || true
    if run_step "cargo build" cargo build --workspace --all-targets; then
        run_step "cargo test" cargo test --workspace --no-fail-fast || true
        run_step "chaos suite (short)" scripts/chaos.sh || true
    else
        skip_step "cargo test" "build failed"
        skip_step "chaos suite (short)" "build failed"
    fi

    [ -z "$failed" ]
}

main "$@"
