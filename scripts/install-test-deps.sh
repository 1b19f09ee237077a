#!/usr/bin/env bash
# Installs the system packages only the test suite needs, when they are missing:
#   haproxy, the real load balancer in front of the three-node cluster test
#   (tests/api/cluster/) and the cluster benchmark (benches/cluster/);
#   chromium and chromium-driver, the headless browser the console's browser tests drive
#   through WebDriver (tests/api/browser/).
# Runs apt-get as root, or through sudo when available; otherwise says what to install (the
# cluster test then fails with the same advice when it is required).
set -euo pipefail

missing=()
command -v haproxy >/dev/null 2>&1 || [ -x /usr/sbin/haproxy ] || missing+=(haproxy)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)

if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi

echo "callbridge tests: installing system packages: ${missing[*]}" >&2
if [ "$(id -u)" -eq 0 ]; then
    apt_get=(apt-get)
elif command -v sudo >/dev/null 2>&1; then
    apt_get=(sudo apt-get)
else
    echo "callbridge tests: please install as root: apt-get install -y ${missing[*]}" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
"${apt_get[@]}" update -qq
"${apt_get[@]}" install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
