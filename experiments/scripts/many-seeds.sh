#!/usr/bin/env bash
# Run experiments over many seeds and tabulate verdicts: the evidence behind
# the figures in docs/performance.md and docs/findings.md. Not a CI step (it
# takes long).
#
#   experiments/scripts/many-seeds.sh [-n SEEDS] [-d DURATION] [-o OUT] [-p SUFFIX] EXPERIMENT...
#
# -p SUFFIX runs each experiment as a copy on a compose project of its own
# (`<project>-SUFFIX`, ports chosen by the engine: own-project.py), so that
# the campaign can run beside CI or another campaign.
#
# Defaults: 10 seeds (1..10), each experiment's own duration, output under
# /tmp/chaos-many-seeds. Prints one line per run and a summary per
# experiment: how many runs ended with each exit code, and the mean number of
# ok ops. The columns name the anomalies found (register classes, or Elle's
# names for list-append) and, for list-append, the models ruled out (Elle's
# `not`). Needs a release build (cargo build --release, or CHAOS_BIN=path) and
# the local images (bash .ci/install.sh).
set -euo pipefail
cd "$(dirname "$0")/../.."

seeds=10
duration=""
out=/tmp/chaos-many-seeds
suffix=""
while getopts "n:d:o:p:" opt; do
    case $opt in
        n) seeds=$OPTARG ;;
        d) duration=$OPTARG ;;
        o) out=$OPTARG ;;
        p) suffix=$OPTARG ;;
        *) echo "usage: $0 [-n SEEDS] [-d DURATION] [-o OUT] [-p SUFFIX] EXPERIMENT..." >&2; exit 2 ;;
    esac
done
shift $((OPTIND - 1))
[ $# -gt 0 ] || { echo "usage: $0 [-n SEEDS] [-d DURATION] [-o OUT] EXPERIMENT..." >&2; exit 2; }

chaos=${CHAOS_BIN:-./target/release/chaos}
[ -x "$chaos" ] || { echo "build first: cargo build --release (or set CHAOS_BIN)" >&2; exit 2; }
mkdir -p "$out"
summary="$out/summary.tsv"
printf 'experiment\tseed\texit\tverdict\tok\tfail\tinfo\tinvalid_keys\tfaults\tanomalies\tnot\trun_dir\n' > "$summary"

for original in "$@"; do
    exp="$original"
    if [ -n "$suffix" ]; then
        exp="$(dirname "$original")/.$(basename "$original" .toml)-$suffix.toml"
        python3 "$(dirname "$0")/own-project.py" "$original" "$exp" "$suffix"
    fi
    for seed in $(seq 1 "$seeds"); do
        args=(run "$exp" --seed "$seed" --results-dir "$out/results" --wait-lock)
        [ -n "$duration" ] && args+=(--duration "$duration")
        set +e
        "$chaos" "${args[@]}" > "$out/last.txt" 2> "$out/last.err"
        code=$?
        set -e
        dir=$(sed -n 's/^run directory: //p' "$out/last.txt")
        if [ -n "$dir" ] && [ -f "$dir/results.json" ]; then
            line=$(jq -r '[.verdict, .workload.ops.ok, .workload.ops.fail, .workload.ops.info, .checker.keys_invalid, (.faults|length),
                ((.checker.txn.anomaly_types // [.checker.anomalies[].class] | unique | join(",")) | if . == "" then "-" else . end),
                ((.checker.txn.not // []) | join(",") | if . == "" then "-" else . end)] | @tsv' "$dir/results.json")
        else
            line=$(printf 'error\t0\t0\t0\t0\t0\t-\t-')
            tail -3 "$out/last.err" >&2
        fi
        printf '%s\t%s\t%s\t%s\t%s\n' "$(basename "$original" .toml)" "$seed" "$code" "$line" "$dir" | tee -a "$summary"
    done
    if [ -n "$suffix" ]; then rm -f "$exp"; fi
done

echo
echo "summary (exit code counts, mean ok ops):"
awk -F'\t' 'NR > 1 { n[$1]++; c[$1 " exit " $3]++; ok[$1] += $5 }
    END { for (e in n) { printf "%s: %d runs, mean ok ops %.0f;", e, n[e], ok[e] / n[e];
          for (k in c) if (index(k, e " exit ") == 1) printf " %s=%d", substr(k, length(e) + 2), c[k];
          printf "\n" } }' "$summary"
