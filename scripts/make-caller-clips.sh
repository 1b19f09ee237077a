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
#
# `VOICE=awb OUT=/tmp/awb scripts/make-caller-clips.sh` renders the sentences in another Flite
# voice (awb, rms, kal16, ...) into another directory with a copy of the sentences, to measure
# the recogniser on voices and words it was not tuned on
# (`CLIPS_DIR=/tmp/awb cargo bench --bench builtin_stt`); `SENTENCES=fixtures/stt/sentences.txt`
# renders the held-out sentences instead.
set -euo pipefail
cd "$(dirname "$0")/.."
voice=${VOICE:-slt}
out=${OUT:-fixtures/calls}
sentences=${SENTENCES:-fixtures/calls/sentences.txt}
mkdir -p "$out"
[ "$sentences" = "$out/sentences.txt" ] || cp "$sentences" "$out/sentences.txt"

if ! command -v flite >/dev/null || ! command -v sox >/dev/null; then
    sudo_cmd=""
    [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
    $sudo_cmd apt-get install -y -q flite sox
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# Renders one line's text: its pieces between `{pause:MS}` markers are spoken separately (a
# piece ending in a comma keeps Flite's phrase-continuing tone) and joined by that much silence.
render() {
    local out=$1 text=$2 i=0 pieces=()
    while [[ "$text" =~ ^(.*)\{pause:([0-9]+)\}(.*)$ ]]; do
        text=${BASH_REMATCH[1]}
        local rest=${BASH_REMATCH[3]} ms=${BASH_REMATCH[2]}
        flite -voice "$voice" -t "$rest" -o "$tmp/piece_$i.wav"
        # The pause is the silence between the words: Flite's own lead-in is trimmed.
        sox "$tmp/piece_$i.wav" "$tmp/gap_$i.wav" silence 1 0.01 1% pad "0.$(printf '%03d' "$ms")" 0
        pieces=("$tmp/gap_$i.wav" "${pieces[@]}")
        i=$((i + 1))
    done
    if [ ${#pieces[@]} -eq 0 ]; then
        flite -voice "$voice" -t "$text" -o "$out"
        return
    fi
    flite -voice "$voice" -t "$text" -o "$tmp/first.wav"
    # ... and its trailing silence before the pause.
    sox "$tmp/first.wav" "$tmp/first_trimmed.wav" reverse silence 1 0.01 1% reverse
    sox "$tmp/first_trimmed.wav" "${pieces[@]}" "$out"
}
grep -v '^#' "$sentences" | grep -v '^$' | while IFS='|' read -r name text; do
    # A fixed voice keeps the clips reproducible.
    render "$tmp/$name.wav" "$text"
    # Telephone band and level: 8 kHz, mono, mu-law, with 200 ms of silence either side.
    sox "$tmp/$name.wav" -r 8000 -c 1 -e mu-law "$out/$name.wav" \
        sinc 300-3400 norm -3 pad 0.2 0.2
    echo "$out/$name.wav: $text"
done
[ "$out" = fixtures/calls ] || exit 0
# A cough: a burst of brown noise shaped like one (sharp onset, 250 ms decay), twice.
sox -n -r 8000 -c 1 "$tmp/cough.wav" synth 0.25 brownnoise fade q 0.01 0.25 0.2 \
    repeat 1 norm -3
sox "$tmp/cough.wav" -r 8000 -c 1 -e mu-law fixtures/calls/cough.wav sinc 300-3400 pad 0.2 0.2
echo "fixtures/calls/cough.wav: (a cough)"
# Someone talking in the room behind the caller: another voice (Flite's kal), 26 dB down.
flite -voice kal -t "Did you see where I put the keys to the truck? They were on the table." \
    -o "$tmp/background.wav"
sox "$tmp/background.wav" -r 8000 -c 1 -e mu-law fixtures/calls/background.wav \
    sinc 300-3400 norm -29 pad 0.2 0.2
echo "fixtures/calls/background.wav: (speech in the background)"
