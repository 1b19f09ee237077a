#!/usr/bin/env bash
# Coverage-guided fuzzing (cargo-fuzz, libFuzzer) of every parser of outside input: carrier
# frames, webhook forms, the LLM's SSE stream and completion chunks, Deepgram's messages,
# tool arguments, WAV files, model files (targets in fuzz/fuzz_targets).
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]
#
# Bounded: each target runs SECONDS_PER_TARGET (default 10), inputs up to 64 KiB, 10 s and
# 1 GiB each. The test command runs it briefly (FUZZ_SECS); longer runs are for a quiet machine.
# A crash or hang fails the script and leaves its input in fuzz/artifacts/<target>/; the
# seeds in fuzz/seeds/<target>/ are read, the growing corpus goes to fuzz/corpus/<target>/
# (not committed). Without a nightly toolchain it fuzzes without a sanitizer on stable (the
# parsers are safe Rust; libFuzzer still finds panics, overflows, hangs and runaway memory);
# FUZZ_SANITIZER=address on nightly adds AddressSanitizer.
set -euo pipefail
cd "$(dirname "$0")/.."

secs="${1:-10}"
shift || true
CARGO_FUZZ_VERSION=0.13.1
if ! cargo fuzz --version 2>/dev/null | grep -q "$CARGO_FUZZ_VERSION"; then
    echo "callbridge: installing cargo-fuzz $CARGO_FUZZ_VERSION (once per machine)"
    cargo install --quiet --locked cargo-fuzz --version "$CARGO_FUZZ_VERSION"
fi

sanitizer="${FUZZ_SANITIZER:-none}"
toolchain=()
if [ "$sanitizer" != "none" ]; then
    toolchain=(+nightly)
fi

cd fuzz
if [ $# -gt 0 ]; then
    targets=("$@")
else
    mapfile -t targets < <(cargo "${toolchain[@]}" fuzz list)
fi
cargo "${toolchain[@]}" fuzz build --sanitizer "$sanitizer"
for target in "${targets[@]}"; do
    mkdir -p "corpus/$target" "seeds/$target"
    echo "fuzz: $target for ${secs}s"
    cargo "${toolchain[@]}" fuzz run --sanitizer "$sanitizer" "$target" \
        "corpus/$target" "seeds/$target" -- \
        -max_total_time="$secs" -max_len=65536 -timeout=10 -rss_limit_mb=1024 \
        -print_final_stats=1 2>&1 | grep -E "^(stat::number_of_executed_units|stat::peak_rss_mb|==|SUMMARY|panicked|thread)|Done [0-9]+ runs" || true
    # cargo fuzz's status is lost in the pipe: a crash leaves an artifact.
    if compgen -G "artifacts/$target/*" >/dev/null; then
        echo "fuzz: $target FAILED; inputs in fuzz/artifacts/$target/:" >&2
        ls "artifacts/$target" >&2
        exit 1
    fi
done
echo "fuzz: ${#targets[@]} targets, ${secs}s each, no crash"
