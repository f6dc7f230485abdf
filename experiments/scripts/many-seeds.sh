#!/usr/bin/env bash
# Seed sweeps of several experiments, one after another: a loop of
# `chaos run EXPERIMENT --seeds 1..N`, which prints a line per run as it
# ends and a summary table (verdict, anomaly kinds, ok ops, faults), and
# writes <time>-sweep.json beside the runs. For one experiment, run chaos
# itself: `chaos run EXPERIMENT --seeds 1..10 [--duration D]`. Not a CI step
# (it takes long); its figures go in docs/performance.md and docs/findings.md.
#
#   experiments/scripts/many-seeds.sh [-n SEEDS] [-d DURATION] [-o OUT] [-p SUFFIX] EXPERIMENT...
#
# Defaults: 10 seeds (1..10), each experiment's own duration, results under
# /tmp/chaos-many-seeds/results. -p SUFFIX runs each experiment as a copy on
# a compose project of its own (`<project>-SUFFIX`, fixed ports of its own:
# own-project.py), so that it can run beside CI or another sweep.
# Exits with the highest exit code of its sweeps (0: every run met its
# experiment's `expect`). Needs a chaos binary (CHAOS_BIN, default
# ./target/release/chaos) and the local images (bash .ci/install.sh).
set -euo pipefail
cd "$(dirname "$0")/../.."

seeds=10
duration=""
out=/tmp/chaos-many-seeds
suffix=""
usage="usage: $0 [-n SEEDS] [-d DURATION] [-o OUT] [-p SUFFIX] EXPERIMENT..."
while getopts "n:d:o:p:" opt; do
    case $opt in
        n) seeds=$OPTARG ;;
        d) duration=$OPTARG ;;
        o) out=$OPTARG ;;
        p) suffix=$OPTARG ;;
        *) echo "$usage" >&2; exit 2 ;;
    esac
done
shift $((OPTIND - 1))
[ $# -gt 0 ] || { echo "$usage" >&2; exit 2; }
chaos=${CHAOS_BIN:-./target/release/chaos}
[ -x "$chaos" ] || { echo "build first: cargo build --release (or set CHAOS_BIN)" >&2; exit 2; }

worst=0
for original in "$@"; do
    exp="$original"
    if [ -n "$suffix" ]; then
        exp="$(dirname "$original")/.$(basename "$original" .toml)-$suffix.toml"
        python3 "$(dirname "$0")/own-project.py" "$original" "$exp" "$suffix"
    fi
    args=(run "$exp" --seeds "1..$seeds" --results-dir "$out/results" --wait-lock)
    [ -n "$duration" ] && args+=(--duration "$duration")
    code=0
    "$chaos" "${args[@]}" || code=$?
    [ "$code" -eq 130 ] && exit 130
    [ "$code" -gt "$worst" ] && worst=$code
    if [ -n "$suffix" ]; then rm -f "$exp"; fi
done
exit "$worst"
