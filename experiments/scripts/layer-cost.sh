#!/usr/bin/env bash
# The cost of chaos-fs and of libfaketime on SurrealDB: the same bench
# (the file's workload, 300 ops/s offered, 20 s, no restart) on the same
# image, plain, under chaos-fs (a disk-fault experiment's override, no
# fault applied) and under libfaketime (a clock experiment's override,
# offset +0). Three rounds, interleaved.
cd "$(dirname "$0")/../.."
mkdir -p "${OUT:-/tmp/chaos-layer-cost}"
for round in 1 2 3; do
  for exp in surrealdb-local-kill surrealdb-local-power-loss surrealdb-local-clock-jump; do
    ${CHAOS_BIN:-./target/release/chaos} bench experiments/$exp.toml --rate 300 --duration 20s --no-restart --json \
      --results-dir ${OUT:-/tmp/chaos-layer-cost}/bench > ${OUT:-/tmp/chaos-layer-cost}/bench-$exp-$round.json 2> ${OUT:-/tmp/chaos-layer-cost}/bench-$exp-$round.err
    echo "$exp round $round: exit $?"
    jq -c '{ok_per_s: .steps[0].throughput_ok_per_s, lat: .steps[0].latency, svc: .steps[0].service_time, err: .steps[0].error_ratio}' ${OUT:-/tmp/chaos-layer-cost}/bench-$exp-$round.json 2>/dev/null || head -c 400 ${OUT:-/tmp/chaos-layer-cost}/bench-$exp-$round.json
  done
done
