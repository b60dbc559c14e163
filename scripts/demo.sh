#!/usr/bin/env bash
# The README's demo command: installs what is missing, builds (or reuses) the test bed and the
# workspace, then runs wardwatch-demo (control plane, operator, the sample ward's pods in network
# namespaces, Prometheus, Alertmanager, and the alerts as the receivers get them). Needs root.
# Arguments go to wardwatch-demo, for example `--until-alert` or `--speed 10`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/install-deps.sh
bash tests/testbed/build.sh
cargo build --workspace --bins --locked
exec target/debug/wardwatch-demo "$@"
