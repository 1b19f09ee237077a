#!/usr/bin/env bash
# The checks that keep the code's shape, run by test.sh before the tests (so CI runs them):
#  - the IO-free core crate depends on no runtime, HTTP, database, cache or metrics crate;
#  - the app, the per-call executor and http import each other in one direction only, and
#    providers, tools and crm stand below them;
#  - no Rust file is over 600 lines;
#  - rustfmt and clippy (all targets, warnings as errors; clippy.toml bans reading the clock
#    and the environment outside the IO edges).
set -euo pipefail
cd "$(dirname "$0")/.."
fail=0

# 1. The core's dependencies (normal ones: build scripts may use what they like).
io_crates='^(tokio|tokio-util|tokio-tungstenite|tungstenite|axum|hyper|hyper-util|reqwest|sea-orm|sqlx|redis|metrics|metrics-exporter-prometheus|mio) '
core_deps=$(cargo tree --locked -p callbridge-core -e normal --prefix none --format '{p}')
if found=$(grep -E "$io_crates" <<<"$core_deps"); then
    echo "check-code: callbridge-core depends on IO crates:"
    echo "$found" | sort -u
    fail=1
fi

# 2. Which module may import which (grep on `crate::` paths).
forbid() { # forbid DIR-OR-FILE... -- PATTERN WHY
    local paths=() pattern why
    while [ "$1" != "--" ]; do paths+=("$1"); shift; done
    pattern=$2 why=$3
    if hits=$(grep -rnE "$pattern" "${paths[@]}" --include='*.rs'); then
        echo "check-code: $why"
        echo "$hits"
        fail=1
    fi
}
forbid src/http -- 'crate::app\b' "http must not import app (app builds http)"
forbid src/driver -- 'crate::(app|http)\b' "the call executor must not import app or http"
forbid src/state src/preparation src/handoff.rs -- 'crate::(app|http|driver)\b' \
    "state, preparation and handoff must not import app, http or the executor"
forbid src/providers src/tools src/crm src/session_store src/domain -- \
    'crate::(app|http|driver|state|preparation|handoff)\b' \
    "providers, tools, crm, session_store and domain stand below the app, http and the executor"

# 3. File length.
long=$(find src core/src core/tests tests benches entity migration fuzz/fuzz_targets -name '*.rs' -print0 |
    xargs -0 wc -l | awk '$2 != "total" && $1 > 600 { print }')
if [ -n "$long" ]; then
    echo "check-code: files over 600 lines:"
    echo "$long"
    fail=1
fi

[ "$fail" -eq 0 ] || exit 1

# 4. Formatting and lints.
cargo fmt --all --check
(cd fuzz && cargo fmt --check) # its own workspace
cargo clippy --locked --workspace --all-targets -- -D warnings
echo "check-code: ok"
