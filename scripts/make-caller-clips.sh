#!/usr/bin/env bash
# Renders fixtures/calls/sentences.txt into fixtures/calls/<name>.wav: 8 kHz mono mu-law, the
# way a phone line carries a caller (about 8 KB per second). Run once when the sentences change;
# the clips are committed, so tests and CI never need a synthesizer.
#
# The caller's voice is Flite's `slt` (a female CMU Arctic voice; BSD-style licence), run as a
# program: a different voice from the agent's built-in one (`kal`), and clear enough that the
# built-in recogniser's errors are its own rather than the synthesizer's (espeak-ng's voice,
# used before, was misheard as "two day morning", "I look like work" by Whisper tiny.en).
# Needs flite and sox (installed with apt-get when missing).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v flite >/dev/null || ! command -v sox >/dev/null; then
    sudo_cmd=""
    [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
    $sudo_cmd apt-get install -y -q flite sox
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
grep -v '^#' fixtures/calls/sentences.txt | grep -v '^$' | while IFS='|' read -r name text; do
    # A fixed voice keeps the clips reproducible.
    flite -voice slt -t "$text" -o "$tmp/$name.wav"
    # Telephone band and level: 8 kHz, mono, mu-law, with 200 ms of silence either side.
    sox "$tmp/$name.wav" -r 8000 -c 1 -e mu-law "fixtures/calls/$name.wav" \
        sinc 300-3400 norm -3 pad 0.2 0.2
    echo "fixtures/calls/$name.wav: $text"
done
