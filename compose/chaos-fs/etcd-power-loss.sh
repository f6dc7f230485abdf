#!/usr/bin/env bash
# compose/chaos-fs/etcd-power-loss.sh: a hand-run power loss of etcd
# members on chaos-fs (docs/images.md, "Disk and clock faults in the
# images"). Brings up compose/etcd.yml with etcd.override.yml as project
# chaosfs-etcd (client ports 24791-24793), puts N keys one at a time
# (each acknowledged), freezes chaos-fs in the chosen members and kills
# them at once, starts them again, and reads every acknowledged key back
# with a linearizable read. Prints what it saw; removes the project.
#
#   bash compose/chaos-fs/etcd-power-loss.sh [MEMBERS] [N]
#     MEMBERS: "etcd1 etcd2 etcd3" (default: all three at once), N: keys (200)
#   ETCD_UNSAFE_NO_FSYNC=true bash compose/chaos-fs/etcd-power-loss.sh   (the control)
#   KEEP=1 ...: leave the project up to look (remove it with docker-compose ... -p chaosfs-etcd down -v)
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
MEMBERS="${1:-etcd1 etcd2 etcd3}"
N="${2:-200}"
P=chaosfs-etcd
export CHAOS_ETCD1_PORT=24791 CHAOS_ETCD2_PORT=24792 CHAOS_ETCD3_PORT=24793 CHAOS_ETCD_HEALTH_INTERVAL=1s
export ETCD_UNSAFE_NO_FSYNC="${ETCD_UNSAFE_NO_FSYNC:-false}"
DC=(docker-compose -f "$ROOT/compose/etcd.yml" -f "$ROOT/compose/chaos-fs/etcd.override.yml" -p "$P")
say() { printf '[etcd-power-loss] %s\n' "$*"; }
cid() { docker ps -aq --filter "label=com.docker.compose.project=$P" --filter "label=com.docker.compose.service=$1"; }
b64() { printf '%s' "$1" | base64 -w0; }
port() { case "$1" in etcd1) echo 24791;; etcd2) echo 24792;; etcd3) echo 24793;; esac; }
healthy() { "${DC[@]}" ps 2>/dev/null | grep -c '(healthy)'; }
cleanup() { "${DC[@]}" kill >/dev/null 2>&1; "${DC[@]}" down -v >/dev/null 2>&1; }
[ "${KEEP:-0}" = 1 ] || trap cleanup EXIT

say "unsafe-no-fsync=$ETCD_UNSAFE_NO_FSYNC; power loss of: $MEMBERS; $N keys"
"${DC[@]}" up -d >/dev/null 2>&1
for _ in $(seq 60); do [ "$(healthy)" = 3 ] && break; sleep 1; done
say "up: $(healthy) healthy"

acked=0
for i in $(seq 1 "$N"); do
  out="$(curl -s -m 2 -X POST "http://127.0.0.1:24791/v3/kv/put" -d "{\"key\":\"$(b64 "k$i")\",\"value\":\"$(b64 "v$i")\"}")"
  case "$out" in *'"revision"'*) acked=$i;; *) say "put k$i not acknowledged: $out"; break;; esac
done
say "acknowledged puts: k1..k$acked"
for m in $MEMBERS; do say "$m before: $(docker exec "$(cid "$m")" chaos-fs ctl status | sed -n 's/.*"pending":\({[^}]*}\).*/pending \1/p')"; done

# The power loss: freeze every chosen member's chaos-fs, then kill them all at once.
for m in $MEMBERS; do docker exec "$(cid "$m")" chaos-fs ctl freeze >/dev/null; done
ids=""; for m in $MEMBERS; do ids="$ids $(cid "$m")"; done
# shellcheck disable=SC2086
docker kill $ids >/dev/null
say "frozen and killed: $MEMBERS"
# shellcheck disable=SC2086
docker start $ids >/dev/null
for _ in $(seq 40); do [ "$(healthy)" = 3 ] && break; sleep 1; done
say "after restart: $(healthy) of 3 healthy"
for m in etcd1 etcd2 etcd3; do
  st="$(docker inspect -f '{{.State.Status}} exit={{.State.ExitCode}} restarts={{.RestartCount}}' "$(cid "$m")")"
  say "$m: $st"
done

lost=0; readable=""
for m in etcd1 etcd2 etcd3; do
  r="$(curl -s -m 3 -X POST "http://127.0.0.1:$(port "$m")/v3/kv/range" -d '{"key":"AA==","range_end":"AA==","count_only":true}')"
  case "$r" in *'"header"'*) readable="$m"; break;; esac
done
if [ -z "$readable" ]; then
  say "no member answers a linearizable read: the cluster did not come back"
  for m in $MEMBERS; do say "$m last log lines:"; docker logs --tail 5 "$(cid "$m")" 2>&1 | sed 's/^/    /'; done
  exit 1
fi
missing=""
for i in $(seq 1 "$acked"); do
  r="$(curl -s -m 3 -X POST "http://127.0.0.1:$(port "$readable")/v3/kv/range" -d "{\"key\":\"$(b64 "k$i")\"}")"
  case "$r" in *'"kvs"'*) ;; *) lost=$((lost + 1)); missing="$missing k$i";; esac
done
say "read through $readable: $lost of $acked acknowledged keys lost${missing:+:$(printf '%s' "$missing" | cut -c1-200)}"
for m in etcd1 etcd2 etcd3; do
  say "$m status: $(curl -s -m 3 -X POST "http://127.0.0.1:$(port "$m")/v3/maintenance/status" -d '{}' | sed -n 's/.*"raftIndex":"\([0-9]*\)".*"raftTerm":"\([0-9]*\)".*/raftIndex \1 term \2/p')"
done
