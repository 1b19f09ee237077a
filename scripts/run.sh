#!/usr/bin/env bash
# Builds and starts callbridge with its embedded defaults: SQLite under ./data (the demo CRM
# is loaded into an empty database), the in-process session store, echo mode (a line test),
# webhooks on :8080, metrics on :9090.
# Arguments, if any, are passed to `callbridge` instead (e.g. `scripts/run.sh check-config`).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
cargo build --release --bin callbridge
if [ -t 2 ] && [ -z "${LOG_FORMAT:-}" ]; then
    export LOG_FORMAT=pretty
fi
if [ $# -gt 0 ]; then
    exec ./target/release/callbridge "$@"
fi
./target/release/callbridge seed --if-empty
exec ./target/release/callbridge serve
