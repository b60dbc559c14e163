#!/usr/bin/env bash
# Fuzzes the exporter's packet decoder, TCP reassembler and HL7 parser with cargo-fuzz
# (libFuzzer), SECONDS each (default 300), and prints per target the executions, exec/s and
# coverage from libFuzzer's final stats line.
#
#   bash scripts/fuzz.sh [SECONDS] [TARGET...]
#
# Needs the nightly toolchain (rustup toolchain install nightly); installs cargo-fuzz when it is
# missing. Seeds are generated (fuzz/seeds.py, from a simulator capture); what the fuzzer finds
# is kept in fuzz/corpus/TARGET, crashes in fuzz/artifacts/TARGET, logs in fuzz/logs (none of
# them committed). Targets run one after the other, one core each; FUZZ_PARALLEL=2 runs two at
# once. A crash stops its target; the script then exits non-zero after the summary.
set -euo pipefail

cd "$(dirname "$0")/.."
SECONDS_EACH=${1:-300}
shift || true
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=(packet_decoder reassembler hl7_parser)
PARALLEL=${FUZZ_PARALLEL:-1}
export CARGO_INCREMENTAL=0

declare -A MAX_LEN=([packet_decoder]=16384 [reassembler]=8192 [hl7_parser]=8192)

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "== installing cargo-fuzz"
    cargo install cargo-fuzz --locked
fi

echo "== seeds"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cargo run -q -p wardwatch-simulator --release -- pcap --devices 5 --duration 1m --scenario mixed-attacks \
    --seed 1 --out "$work/mixed-attacks.pcap" >/dev/null
python3 fuzz/seeds.py --pcap "$work/mixed-attacks.pcap"

echo "== build (nightly, no sanitizer: the code is safe Rust; debug assertions on, so overflows panic)"
for target in "${TARGETS[@]}"; do
    cargo +nightly fuzz build --sanitizer none --debug-assertions "$target" 2>&1 | tail -n 1
done

mkdir -p fuzz/logs
run() {
    local target=$1
    mkdir -p "fuzz/corpus/$target"
    rm -f "fuzz/logs/$target.status"
    # Exit status 0 when the time ran out, non-zero on a crash or a failed assertion.
    cargo +nightly fuzz run --sanitizer none --debug-assertions "$target" "fuzz/corpus/$target" "fuzz/seeds/$target" -- \
        -max_total_time="$SECONDS_EACH" -max_len="${MAX_LEN[$target]:-4096}" -timeout=10 -rss_limit_mb=1024 \
        -print_final_stats=1 >"fuzz/logs/$target.log" 2>&1
    echo $? >"fuzz/logs/$target.status"
}

echo "== fuzzing ${TARGETS[*]} for ${SECONDS_EACH}s each"
running=0
for target in "${TARGETS[@]}"; do
    run "$target" &
    running=$((running + 1))
    if [ "$running" -ge "$PARALLEL" ]; then
        wait -n || true
        running=$((running - 1))
    fi
done
wait || true

echo "== results"
printf '%-16s %8s %12s %10s %8s %8s %12s  %s\n' target seconds executions exec/s cov ft corpus result
failed=0
for target in "${TARGETS[@]}"; do
    log="fuzz/logs/$target.log"
    # The final status line: "#N DONE cov: C ft: F corp: U/S lim: L exec/s: E rss: R".
    line=$(grep -E '^#[0-9]+[[:space:]]+(DONE|pulse|NEW|REDUCE|INITED)' "$log" | tail -n 1 || true)
    execs=$(awk '/^stat::number_of_executed_units:/ { print $2 }' "$log")
    [ -n "$execs" ] || execs=$(sed -nE 's/^#([0-9]+).*/\1/p' <<<"$line")
    rate=$(awk '/^stat::average_exec_per_sec:/ { print $2 }' "$log")
    [ -n "$rate" ] || rate=$(sed -nE 's/.* exec\/s: ([0-9]+).*/\1/p' <<<"$line")
    cov=$(sed -nE 's/.* cov: ([0-9]+).*/\1/p' <<<"$line")
    ft=$(sed -nE 's/.* ft: ([0-9]+).*/\1/p' <<<"$line")
    corp=$(sed -nE 's/.* corp: ([0-9]+\/[0-9]+[a-zA-Z]*).*/\1/p' <<<"$line")
    status=$(cat "fuzz/logs/$target.status" 2>/dev/null || echo '?')
    if [ "$status" = 0 ]; then
        result=ok
    else
        result="FAILED (see $log, fuzz/artifacts/$target)"
        failed=1
    fi
    printf '%-16s %8s %12s %10s %8s %8s %12s  %s\n' "$target" "$SECONDS_EACH" "${execs:-?}" "${rate:-?}" \
        "${cov:-?}" "${ft:-?}" "${corp:-?}" "$result"
done
exit "$failed"
