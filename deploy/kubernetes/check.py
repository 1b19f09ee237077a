"""Checks what a schema cannot: the relations between a rendered overlay's objects.

Run by scripts/check-deploy.sh on `kubectl kustomize` output:
    python check.py rendered.yaml
- terminationGracePeriodSeconds covers the preStop sleep, SHUTDOWN_GRACE_SECS and the exit's
  own bounded steps (5 s closing sockets, 5 s for hand-off decisions, 2 s HTTP);
- DRAIN_WIND_DOWN_SECS is shorter than the grace;
- the disruption budget and the Service select the Deployment's pods;
- the ScaledObject scales the Deployment on the active-call metric, with a threshold below
  MAX_CALLS;
- readiness is /readyz, liveness /healthz, and the pod runs as non-root.
"""

import sys

import yaml

EXIT_STEPS_SECS = 5 + 5 + 2


def fail(message):
    print(f"check-deploy: {message}", file=sys.stderr)
    sys.exit(1)


def main(path):
    with open(path) as f:
        docs = [d for d in yaml.safe_load_all(f) if d]
    by_kind = {}
    for d in docs:
        by_kind.setdefault(d["kind"], []).append(d)
    (deployment,) = by_kind["Deployment"]
    (pdb,) = by_kind["PodDisruptionBudget"]
    (service,) = by_kind["Service"]
    (scaled,) = by_kind["ScaledObject"]
    pod = deployment["spec"]["template"]
    labels = pod["metadata"]["labels"]
    (container,) = pod["spec"]["containers"]
    env = {e["name"]: e.get("value") for e in container.get("env", [])}
    grace = int(env["SHUTDOWN_GRACE_SECS"])
    delay = int(env.get("DRAIN_DELAY_SECS") or 0)
    wind_down = int(env["DRAIN_WIND_DOWN_SECS"])
    max_calls = int(env["MAX_CALLS"])
    pre_stop = container["lifecycle"]["preStop"]["exec"]["command"]
    if pre_stop[0] != "sleep":
        fail(f"preStop is not a sleep: {pre_stop}")
    pre_stop_secs = int(pre_stop[1])
    needed = pre_stop_secs + delay + grace + EXIT_STEPS_SECS
    termination = pod["spec"]["terminationGracePeriodSeconds"]
    if termination < needed:
        fail(f"terminationGracePeriodSeconds {termination} < {needed} needed")
    if wind_down >= grace:
        fail(f"DRAIN_WIND_DOWN_SECS {wind_down} is not shorter than the grace {grace}")
    for name, selector in [
        ("PodDisruptionBudget", pdb["spec"]["selector"]["matchLabels"]),
        ("Service", service["spec"]["selector"]),
    ]:
        if any(labels.get(k) != v for k, v in selector.items()):
            fail(f"the {name} does not select the pods: {selector} vs {labels}")
    if scaled["spec"]["scaleTargetRef"]["name"] != deployment["metadata"]["name"]:
        fail("the ScaledObject scales another Deployment")
    (trigger,) = scaled["spec"]["triggers"]
    if trigger["type"] != "prometheus" or "callbridge_active_calls" not in trigger["metadata"]["query"]:
        fail(f"the autoscaler does not scale on active calls: {trigger}")
    threshold = int(trigger["metadata"]["threshold"])
    if not 0 < threshold < max_calls:
        fail(f"calls per pod {threshold} is not below MAX_CALLS {max_calls}")
    if scaled["spec"]["minReplicaCount"] < 1:
        fail("minReplicaCount below 1 would drop calls when idle")
    if container["readinessProbe"]["httpGet"]["path"] != "/readyz":
        fail("readiness must be /readyz (it fails at SIGTERM)")
    if container["livenessProbe"]["httpGet"]["path"] != "/healthz":
        fail("liveness must be /healthz")
    if not pod["spec"].get("securityContext", {}).get("runAsNonRoot"):
        fail("the pod may run as root")
    print(
        f"check-deploy: {path.rsplit('/', 1)[-1]}: grace {grace}s + preStop {pre_stop_secs}s + exit "
        f"{EXIT_STEPS_SECS}s <= {termination}s; {threshold} calls per pod, "
        f"{scaled['spec']['minReplicaCount']}..{scaled['spec']['maxReplicaCount']} pods"
    )


if __name__ == "__main__":
    main(sys.argv[1])
