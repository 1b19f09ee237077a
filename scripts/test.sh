#!/usr/bin/env bash
# Runs the whole test suite. Uses the real PostgreSQL and Redis when they answer on
# 127.0.0.1 (exporting TEST_DATABASE_URL / TEST_REDIS_URL unless already set); otherwise the
# tests use SQLite and the in-process store.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
# HAProxy, the load balancer of the three-node cluster test.
./scripts/install-test-deps.sh

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

redis_answers() {
    exec 3<>/dev/tcp/127.0.0.1/6379 || return 1
    printf 'PING\r\n' >&3
    local reply
    IFS= read -r -t 2 reply <&3 || return 1
    exec 3>&-
    [[ "$reply" == "+PONG"* ]]
}

if [ -z "${TEST_DATABASE_URL:-}" ] && port_open 5432; then
    export TEST_DATABASE_URL="postgres://postgres@127.0.0.1:5432/test"
fi
if [ -z "${TEST_REDIS_URL:-}" ] && (redis_answers) 2>/dev/null; then
    export TEST_REDIS_URL="redis://127.0.0.1:6379"
fi
echo "callbridge tests: database=${TEST_DATABASE_URL:-sqlite (embedded)} redis=${TEST_REDIS_URL:-in-process}"
# The built-in recogniser's tests need its model: fetched (pinned, sha256-checked) and
# converted once per machine into MODEL_CACHE_DIR (default ~/.cache/callbridge/models),
# outside the clone; later runs find it there.
cargo run --quiet --locked --bin callbridge -- models fetch
# The code's shape: the core crate's dependencies, import directions, file length, rustfmt,
# clippy with warnings as errors.
./scripts/check-code.sh
# The Kubernetes manifests: rendered, schema-checked and their relations checked, offline.
./scripts/check-deploy.sh
cargo test --workspace --locked
# A short coverage-guided run of every fuzz target (parsers of outside input); longer runs:
# `scripts/fuzz.sh 600`.
./scripts/fuzz.sh "${FUZZ_SECS:-5}"
