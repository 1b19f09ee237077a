#!/usr/bin/env bash
# Validates the Kubernetes manifests offline: every overlay under deploy/kubernetes/overlays is
# rendered with `kubectl kustomize`, checked against the Kubernetes API schemas with
# kubernetes-validate (from PyPI, pinned, in a venv under target/), and its objects' relations
# checked by deploy/kubernetes/check.py. Needs kubectl (client only) and python3; says so and
# skips when kubectl is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v kubectl >/dev/null 2>&1; then
    echo "check-deploy: kubectl not installed; manifests NOT validated" >&2
    exit 0
fi
if ! python3 -c 'import ensurepip' 2>/dev/null; then
    # Debian keeps venv support in its own package.
    echo "check-deploy: installing python3-venv" >&2
    if [ "$(id -u)" -eq 0 ]; then sudo=(); else sudo=(sudo); fi
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq python3-venv >/dev/null
fi
venv=target/deploy-venv
if [ ! -x "$venv/bin/kubernetes-validate" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check kubernetes-validate==1.37.0
fi
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for overlay in deploy/kubernetes/overlays/*/; do
    name=$(basename "$overlay")
    kubectl kustomize "$overlay" > "$out/$name.yaml"
    # The KEDA ScaledObject has no schema there (a CRD): check.py covers it.
    "$venv/bin/kubernetes-validate" --strict --quiet --no-warn "$out/$name.yaml"
    "$venv/bin/python" deploy/kubernetes/check.py "$out/$name.yaml"
done
