#!/usr/bin/env bash
# Evaluates wardwatch's network anomaly detector against scikit-learn's IsolationForest on the
# same feature windows, and prints one table.
#
#   exporter/benches/anomaly.sh            # from the workspace root
#
# - captures: `wardwatch-simulator pcap --scenario mixed-attacks` (seven devices, one of each
#   type; every attack scenario on some device at a seeded random time). Training and test
#   captures come from different seeds; attack windows in the training capture are left out
#   of training by both detectors.
# - wardwatch: `wardwatch-exporter evaluate` (threshold 1.0), pinned to one core with
#   `taskset -c 1`; it also writes every window's features (--dump-windows), which is what
#   IsolationForest trains and scores on (one forest per device, like wardwatch's models).
# - IsolationForest (scikit-learn, installed into a venv under the target directory): its
#   threshold is the 1st percentile of its training scores (1 % flagged in training).
#
# Environment: CARGO_TARGET_DIR (default target), ANOMALY_BENCH_DIR (captures; default
# $CARGO_TARGET_DIR/anomaly-bench), TEST_SEEDS (default "21 22 23 24 25 26"; the score scale floor was chosen on 21-23).
set -euo pipefail
cd "$(dirname "$0")/../.."
target=${CARGO_TARGET_DIR:-target}
dir=${ANOMALY_BENCH_DIR:-$target/anomaly-bench}
test_seeds=${TEST_SEEDS:-21 22 23 24 25 26}
mkdir -p "$dir"

cargo build --locked --release -j1 -p wardwatch-exporter -p wardwatch-simulator >&2
sim=$target/release/wardwatch-simulator
exporter=$target/release/wardwatch-exporter

capture() { # seed minutes name
    [[ -s $dir/$3.pcap ]] || "$sim" pcap --scenario mixed-attacks --devices 7 --seed "$1" --duration "$2m" \
        --attack-duration 60s --out "$dir/$3.pcap" >&2
}
capture 11 30 train
tests=()
for seed in $test_seeds; do
    capture "$seed" 15 "test-$seed"
    tests+=(--test "$dir/test-$seed.pcap")
done

venv=$target/anomaly-venv
if [[ ! -x $venv/bin/python ]]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet scikit-learn numpy >&2
fi

taskset -c 1 "$exporter" evaluate --train "$dir/train.pcap" "${tests[@]}" --format json \
    --dump-windows "$dir/windows.csv" >"$dir/wardwatch.json"
taskset -c 1 "$venv/bin/python" exporter/benches/anomaly_compare.py "$dir/windows.csv" "$dir/wardwatch.json"

# The vital-sign model: sepsis and hypotension (episode onset 15 min into the capture, after
# the 10-min training window; 20-min ramp), and stable patients for false alarms.
vitals() { # scenario seed duration devices
    [[ -s $dir/vitals-$1-$2.pcap ]] || "$sim" pcap --scenario "$1" --devices "$4" --seed "$2" --duration "$3" \
        --onset 15m --ramp 20m --plateau 10m --recovery 5m --ecg false --out "$dir/vitals-$1-$2.pcap" >&2
}
vitals sepsis 41 50m 4
vitals hypotension 41 50m 4
vitals stable 42 4h 8
echo
"$exporter" evaluate-vitals --capture "$dir/vitals-sepsis-41.pcap" --capture "$dir/vitals-hypotension-41.pcap" \
    --capture "$dir/vitals-stable-42.pcap"
