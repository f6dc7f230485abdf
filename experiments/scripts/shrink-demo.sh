#!/usr/bin/env bash
# The shrink demonstration behind docs/shrink.md: a run of
# etcd-serializable-stale-reads with several partitions, then `chaos shrink`
# with its defaults (3 tries a candidate, at most 40 runs), then the
# figures. Not a CI step: it takes about half an hour (the CI test is the
# short form: tests/it/shrink.rs).
#
#   experiments/scripts/shrink-demo.sh [-s SEED] [-d DURATION] [-r MAX_RUNS] [-o OUT]
#
# Defaults: seed 3, duration 30s, 40 runs, output under /tmp/chaos-shrink-demo.
# Needs a release build (cargo build --release, or CHAOS_BIN=path) and the
# local images (bash .ci/install.sh).
set -euo pipefail
cd "$(dirname "$0")/../.."

seed=3
duration=30s
max_runs=40
out=/tmp/chaos-shrink-demo
while getopts "s:d:r:o:" opt; do
    case $opt in
        s) seed=$OPTARG ;;
        d) duration=$OPTARG ;;
        r) max_runs=$OPTARG ;;
        o) out=$OPTARG ;;
        *) echo "usage: $0 [-s SEED] [-d DURATION] [-r MAX_RUNS] [-o OUT]" >&2; exit 2 ;;
    esac
done
chaos=${CHAOS_BIN:-./target/release/chaos}
[ -x "$chaos" ] || { echo "build first: cargo build --release (or set CHAOS_BIN)" >&2; exit 2; }
mkdir -p "$out"

echo "== the run (etcd-serializable-stale-reads, seed $seed, $duration)"
set +e
"$chaos" run experiments/etcd-serializable-stale-reads.toml --seed "$seed" --duration "$duration" \
    --results-dir "$out/results" > "$out/run.txt" 2> "$out/run.err"
code=$?
set -e
run_dir=$(sed -n 's/^run directory: //p' "$out/run.txt")
faults=$(jq '.faults | length' "$run_dir/results.json")
echo "exit $code, $faults faults, $(jq -r '.checker.anomalies | map(.class) | unique | join(",")' "$run_dir/results.json"): $run_dir"
[ "$code" = 1 ] || { echo "the run found no anomaly: try another seed (-s)" >&2; exit 1; }

echo "== chaos shrink (at most $max_runs runs)"
start=$(date +%s)
"$chaos" shrink "$run_dir" --max-runs "$max_runs" > "$out/shrink.txt" 2> "$out/shrink.err"
took=$(( $(date +%s) - start ))
cat "$out/shrink.txt"
dir=$(dirname "$(sed -n 's/^shrunk.toml: //p' "$out/shrink.txt")")
echo
echo "== figures"
jq -r '"from \(.start.faults | length) faults, \(.start.duration), \(.start.clients) clients, \(.start.keys) keys"' "$dir/summary.json"
jq -r '"to   \(.best.faults | length) fault(s), \(.best.duration), \(.best.clients) clients, \(.best.keys) keys"' "$dir/summary.json"
jq -r '"\(.candidates) candidates, \(.runs) candidate runs; fresh runs reproduced \(.fresh_reproduced) of \(.fresh_runs); stopped early: \(.stopped // "no")"' "$dir/summary.json"
echo "took ${took}s"
echo "candidates by phase:"
jq -r '.phase' "$dir/shrink.jsonl" | sort | uniq -c
