#!/usr/bin/env bash
# Builds and starts callbridge with its embedded defaults: SQLite under ./data, the
# in-process session store, echo mode (a line test), webhooks on :8080, metrics on :9090.
# Any argument is passed to `callbridge` (e.g. `scripts/run.sh check-config`).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
cargo build --release --bin callbridge
if [ -t 2 ] && [ -z "${LOG_FORMAT:-}" ]; then
    export LOG_FORMAT=pretty
fi
exec ./target/release/callbridge "$@"
