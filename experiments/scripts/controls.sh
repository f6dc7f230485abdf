#!/usr/bin/env bash
# Known-bad controls over many seeds: each control must be flagged (exit 1)
# with its fault, and, for a fault's control, NOT flagged at the same seeds
# with its faults removed (the same file without its [[nemesis]] tables), so
# that what flags it is the fault, not the configuration alone. Not a CI step
# (it takes long); its figures go in docs/findings.md.
#
#   experiments/scripts/controls.sh [-n SEEDS] [-d DURATION] [-o OUT] [-p SUFFIX] [--no-baseline] CONTROL...
#
# -p SUFFIX: each control (and its copy without faults) on a compose project
# of its own (own-project.py), to run beside CI or another campaign.
#
# --no-baseline: for a control whose anomaly comes from its configuration,
# not its faults, e.g. PostgreSQL at read committed held to serializable
# (issue 24's bar: flagged in at least 9 of 10 seeds; docs/findings.md):
#
#   CHAOS_BIN=target/debug/chaos experiments/scripts/controls.sh -n 10 -d 30s \
#       --no-baseline -p pgc experiments/postgres-append-read-committed.toml
#
# (-p pgc: project chaos-postgres-pgc on ports of its own; remove it after
# with `docker-compose -f compose/postgres.yml -p chaos-postgres-pgc down -v`).
# The same line with postgres-replica-reads.toml for the stale
# replica, and with postgres-append-serializable.toml for the other side:
# flagged 0 of N there.
#
# Prints one line per run and, per control, "flagged F of N with the fault;
# flagged B of N without it". Takes the machine's Docker lock
# (/tmp/chaos-docker.lock, or $CHAOS_DOCKER_LOCK) for each run, not for the whole script. Needs a
# chaos binary (CHAOS_BIN, default ./target/release/chaos) and the images.
set -euo pipefail
cd "$(dirname "$0")/../.."

seeds=10
duration=""
out=/tmp/chaos-controls
baseline=1
suffix=""
args=()
while [ $# -gt 0 ]; do
    case "$1" in
        -n) seeds=$2; shift 2 ;;
        -d) duration=$2; shift 2 ;;
        -o) out=$2; shift 2 ;;
        --no-baseline) baseline=0; shift ;;
        -p) suffix=$2; shift 2 ;;
        -*) echo "usage: $0 [-n SEEDS] [-d DURATION] [-o OUT] [-p SUFFIX] [--no-baseline] CONTROL..." >&2; exit 2 ;;
        *) args+=("$1"); shift ;;
    esac
done
[ ${#args[@]} -gt 0 ] || { echo "usage: $0 [-n SEEDS] [-d DURATION] [-o OUT] [-p SUFFIX] [--no-baseline] CONTROL..." >&2; exit 2; }
chaos=${CHAOS_BIN:-./target/release/chaos}
[ -x "$chaos" ] || { echo "build first: cargo build --release (or set CHAOS_BIN)" >&2; exit 2; }
mkdir -p "$out"
summary="$out/summary.tsv"
printf 'control\tvariant\tseed\texit\tverdict\tanomalies\trun_dir\n' > "$summary"

# The experiment without its [[nemesis]] tables (and without what only they
# needed), next to the original so its relative compose path still holds.
strip_faults() {
    python3 - "$1" "$2" <<'PY'
import sys, re
src, dst = sys.argv[1], sys.argv[2]
text = open(src).read()
# Drop every [[nemesis]] table up to the next table header or the end.
out = re.sub(r'(?ms)^\[\[nemesis\]\].*?(?=^\[|\Z)', '', text)
out = re.sub(r'(?m)^name = "([^"]+)"', r'name = "\1-nofault"', out, count=1)
open(dst, 'w').write(out)
PY
}

run_one() { # EXPERIMENT SEED VARIANT CONTROL
    local exp="$1" seed="$2" variant="$3" control="$4" code=0 log
    log="$out/$(basename "$exp" .toml)-$variant-$seed.log"
    local a=(run "$exp" --seed "$seed" --results-dir "$out/results")
    [ -n "$duration" ] && a+=(--duration "$duration")
    flock "${CHAOS_DOCKER_LOCK:-/tmp/chaos-docker.lock}" "$chaos" "${a[@]}" > "$log" 2>&1 || code=$?
    local dir verdict anomalies
    dir="$(sed -n 's/^run directory: //p' "$log" | tail -n 1)"
    verdict="-"; anomalies="-"
    if [ -n "$dir" ] && [ -f "$dir/results.json" ]; then
        verdict="$(jq -r .verdict "$dir/results.json")"
        anomalies="$(jq -r '[.checker.anomalies[] | (.anomaly // .class)] | unique | join(",")' "$dir/results.json")"
    fi
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$control" "$variant" "$seed" "$code" "$verdict" "$anomalies" "$dir" >> "$summary"
    printf '%-40s %-9s seed %-3s exit %s %-8s %s\n' "$control" "$variant" "$seed" "$code" "$verdict" "$anomalies"
}

for original in "${args[@]}"; do
    name="$(basename "$original" .toml)"
    exp="$original"
    if [ -n "$suffix" ]; then
        exp="$(dirname "$original")/.$name-$suffix.toml"
        python3 "$(dirname "$0")/own-project.py" "$original" "$exp" "$suffix"
    fi
    nofault="$(dirname "$exp")/.$name-nofault.toml"
    [ "$baseline" = 1 ] && strip_faults "$exp" "$nofault"
    for seed in $(seq 1 "$seeds"); do
        run_one "$exp" "$seed" fault "$name"
        [ "$baseline" = 1 ] && run_one "$nofault" "$seed" no-fault "$name"
    done
    if [ "$baseline" = 1 ]; then rm -f "$nofault"; fi
    if [ -n "$suffix" ]; then rm -f "$exp"; fi
    f=$(awk -F'\t' -v c="$name" '$1==c && $2=="fault" && $4==1' "$summary" | wc -l)
    b=$(awk -F'\t' -v c="$name" '$1==c && $2=="no-fault" && $4==1' "$summary" | wc -l)
    if [ "$baseline" = 1 ]; then
        printf '%s: flagged %s of %s with the fault; flagged %s of %s without it\n' "$name" "$f" "$seeds" "$b" "$seeds"
    else
        printf '%s: flagged %s of %s\n' "$name" "$f" "$seeds"
    fi
done
echo "summary: $summary"
