#!/usr/bin/env bash
# Runs wardwatch's tests on this machine: installs what is missing, builds (or reuses) the test
# bed, then runs every unit and end-to-end test. The README's test command.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/install-deps.sh
bash tests/testbed/build.sh
cargo test --workspace --locked
