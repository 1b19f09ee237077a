#!/usr/bin/env bash
# Builds and starts callbridge with its embedded defaults: SQLite under ./data (the demo CRM
# is loaded into an empty database), the in-process session store, the conversation on the
# built-in engines (whisper.cpp speech recognition, the scripted agent, the Flite voice; the
# Whisper model is fetched once into ~/.cache/callbridge/models), webhooks on :8080, metrics
# on :9090. Once the server is ready it places the demo call (`callbridge demo`: a customer
# books an oil change; the transcript, latencies and booking are printed and the agent's
# audio saved to data/demo-call.wav), then keeps serving until stopped (Ctrl-C).
# DEMO=0 skips the demo call. Arguments, if any, are passed to `callbridge` instead (e.g.
# `scripts/run.sh check-config`).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
cargo build --release --bin callbridge
if [ -t 2 ] && [ -z "${LOG_FORMAT:-}" ]; then
    export LOG_FORMAT=pretty
fi
bin=./target/release/callbridge
if [ $# -gt 0 ]; then
    exec "$bin" "$@"
fi
"$bin" models fetch
"$bin" seed --if-empty
if [ "${DEMO:-1}" = "0" ]; then
    exec "$bin" serve
fi

"$bin" serve &
server=$!
trap 'kill -TERM "$server" 2>/dev/null || true' INT TERM
# The port the server listens on (LISTEN_ADDR, default 0.0.0.0:8080).
port="${LISTEN_ADDR:-0.0.0.0:8080}"
port="${port##*:}"
ready=""
for _ in $(seq 1 300); do
    if ! kill -0 "$server" 2>/dev/null; then
        break
    fi
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
        ready=1
        break
    fi
    sleep 0.1
done
if [ -n "$ready" ]; then
    "$bin" demo || echo "callbridge: the demo call failed; the server keeps running" >&2
fi
# A signal interrupts `wait` while the server is still finishing its calls: wait it out.
status=0
while kill -0 "$server" 2>/dev/null; do
    wait "$server" || status=$?
done
exit "$status"
