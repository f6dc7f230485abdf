#!/usr/bin/env bash
# Run tikv-leader-kill.toml (SurrealDB's defaults: TiKV async commit and
# one-phase commit on) and tikv-async-commit.toml (both off) with the same
# seed, so that the workload and the fault timeline are identical, and print
# the two verdicts side by side from each run's results.json.
#
#   experiments/scripts/compare-async-commit.sh [-s SEED] [-d DURATION] [-o OUT]
#
# Defaults: seed 1, each experiment's own duration, output under
# /tmp/chaos-async-commit. Each run starts from an empty TiKV: the script
# runs `chaos down` (which wipes the volumes) before it. Needs a build of
# chaos (cargo build --release, or CHAOS_BIN=path), jq, and the public images
# pingcap/pd, pingcap/tikv and surrealdb/surrealdb: a machine with a registry.
# It cannot run where no registry answers (such as the machine chaos is
# developed on); `chaos plan` of both files works anywhere.
set -euo pipefail
cd "$(dirname "$0")/../.."

seed=1
duration=""
out=/tmp/chaos-async-commit
usage="usage: $0 [-s SEED] [-d DURATION] [-o OUT]"
while getopts "s:d:o:" opt; do
    case $opt in
        s) seed=$OPTARG ;;
        d) duration=$OPTARG ;;
        o) out=$OPTARG ;;
        *) echo "$usage" >&2; exit 2 ;;
    esac
done
shift $((OPTIND - 1))
[ $# -eq 0 ] || { echo "$usage" >&2; exit 2; }

chaos=${CHAOS_BIN:-./target/release/chaos}
[ -x "$chaos" ] || { echo "build first: cargo build --release (or set CHAOS_BIN)" >&2; exit 2; }
command -v jq >/dev/null || { echo "jq is needed to read results.json" >&2; exit 2; }
mkdir -p "$out"

experiments=(experiments/tikv-leader-kill.toml experiments/tikv-async-commit.toml)
declare -A code dir
for exp in "${experiments[@]}"; do
    name=$(basename "$exp" .toml)
    echo "== $name (seed $seed): chaos down, then chaos run" >&2
    "$chaos" down "$exp" >&2 || true
    args=(run "$exp" --seed "$seed" --results-dir "$out/results")
    [ -n "$duration" ] && args+=(--duration "$duration")
    set +e
    "$chaos" "${args[@]}" > "$out/$name.out" 2> "$out/$name.err"
    code[$name]=$?
    set -e
    dir[$name]=$(sed -n 's/^run directory: //p' "$out/$name.out")
    if [ -z "${dir[$name]}" ] || [ ! -f "${dir[$name]}/results.json" ]; then
        echo "$name: no results.json (exit ${code[$name]}); the end of its log:" >&2
        tail -5 "$out/$name.err" >&2
    fi
done

# One row per measure, one column per experiment.
field() { # name jq-filter
    local f="${dir[$1]}/results.json"
    if [ -f "$f" ]; then jq -r "$2 // \"-\"" "$f"; else echo "-"; fi
}
a=tikv-leader-kill
b=tikv-async-commit
printf '\nseed %s%s\n' "$seed" "${duration:+, duration $duration}"
printf '%-22s %-22s %-22s\n' "" "$a" "$b"
printf '%-22s %-22s %-22s\n' "async/1PC commit" "on (default)" "off"
printf '%-22s %-22s %-22s\n' "exit code" "${code[$a]}" "${code[$b]}"
for row in "verdict|.verdict" "ok ops|.workload.ops.ok" "fail ops|.workload.ops.fail" \
    "info ops|.workload.ops.info" "invalid keys|.checker.keys_invalid" \
    "faults|(.faults | length)"; do
    label=${row%%|*}
    filter=${row#*|}
    printf '%-22s %-22s %-22s\n' "$label" "$(field $a "$filter")" "$(field $b "$filter")"
done
printf '\nrun directories:\n  %s\n  %s\n' "${dir[$a]:--}" "${dir[$b]:--}"
