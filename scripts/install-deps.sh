#!/usr/bin/env bash
# Installs the system packages callbridge's build needs, only when they are missing:
#   pkg-config and libopus-dev (Debian), for the audiopus crate's link against libopus;
#   flite1-dev, the built-in speech synthesizer (BSD-style licence), linked through FFI;
#   cmake and a C++ compiler, which whisper-rs-sys uses to build whisper.cpp (the built-in
#   speech recogniser) from source.
# Runs apt-get as root, or through sudo when available; otherwise says what to install.
set -euo pipefail

missing=()
command -v pkg-config >/dev/null 2>&1 || missing+=(pkg-config)
if ! pkg-config --exists opus 2>/dev/null; then
    missing+=(libopus-dev)
fi
{ command -v cc && command -v c++; } >/dev/null 2>&1 || missing+=(build-essential)
command -v cmake >/dev/null 2>&1 || missing+=(cmake)
[ -f /usr/include/flite/flite.h ] || missing+=(flite1-dev)

if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi

echo "callbridge: installing system packages: ${missing[*]}" >&2
if [ "$(id -u)" -eq 0 ]; then
    apt_get=(apt-get)
elif command -v sudo >/dev/null 2>&1; then
    apt_get=(sudo apt-get)
else
    echo "callbridge: please install as root: apt-get install -y ${missing[*]}" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
"${apt_get[@]}" update -qq
"${apt_get[@]}" install -y -qq "${missing[@]}" >/dev/null
