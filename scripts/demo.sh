#!/usr/bin/env bash
# The README's demo command: installs what is missing, builds (or reuses) the test bed and the
# workspace, then runs wardwatch-node-demo: the images built without a container engine, a
# real node (containerd, kubelet, kube-proxy, scheduler, CoreDNS) in a network namespace of its
# own, `helm install` of the chart, prometheus-operator with Prometheus and Alertmanager,
# `kubectl apply -f manifests/`, then the pods, the targets and the alerts as the ward's
# receivers get them. Ctrl-C stops and removes everything it started. Needs root.
#
# Arguments go to wardwatch-node-demo, for example `--until-alertname HypoxiaDetected`.
# `scripts/demo.sh --processes [...]` runs the earlier demo instead (wardwatch-demo: the pods'
# containers as local processes, no kubelet; faster to start, with --speed and the latency
# report the alert-latency bench reads).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/install-deps.sh
bash tests/testbed/build.sh
cargo build --workspace --bins --locked
if [[ ${1:-} == --processes ]]; then
	shift
	exec target/debug/wardwatch-demo "$@"
fi
exec target/debug/wardwatch-node-demo "$@"
