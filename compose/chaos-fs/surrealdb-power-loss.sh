#!/usr/bin/env bash
# compose/chaos-fs/surrealdb-power-loss.sh: a hand-run power loss of the
# local SurrealDB node on chaos-fs (docs/images.md, "Disk and clock faults
# in the images"). Brings up compose/surrealdb-local.yml with
# surrealdb-local.override.yml as project chaosfs-surreal (port 28101),
# creates N records one at a time over HTTP /sql (each acknowledged),
# freezes chaos-fs and kills the container, starts it again and counts the
# acknowledged records that came back. Removes the project at the end
# (KEEP=1 leaves it up).
#
#   bash compose/chaos-fs/surrealdb-power-loss.sh [N]                  (N: 200)
#   SURREAL_DATASTORE_SYNC_DATA=never bash compose/chaos-fs/surrealdb-power-loss.sh   (the control)
#   TORN=1 ...: freeze --torn
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
N="${1:-200}"
P=chaosfs-surreal
PORT=28101
export CHAOS_SURREALDB1_PORT=$PORT
export SURREAL_DATASTORE_SYNC_DATA="${SURREAL_DATASTORE_SYNC_DATA:-every}"
DC=(docker-compose -f "$ROOT/compose/surrealdb-local.yml" -f "$ROOT/compose/chaos-fs/surrealdb-local.override.yml" -p "$P")
say() { printf '[surrealdb-power-loss] %s\n' "$*"; }
cid() { docker ps -aq --filter "label=com.docker.compose.project=$P" --filter "label=com.docker.compose.service=surrealdb1"; }
sql() { curl -s -m 5 -u root:root -H 'surreal-ns: t' -H 'surreal-db: t' -H 'Accept: application/json' -d "$1" "http://127.0.0.1:$PORT/sql"; }
healthy() { [ "$(docker inspect -f '{{.State.Health.Status}}' "$(cid)" 2>/dev/null)" = healthy ]; }
cleanup() { "${DC[@]}" kill >/dev/null 2>&1; "${DC[@]}" down -v >/dev/null 2>&1; }
[ "${KEEP:-0}" = 1 ] || trap cleanup EXIT

say "SURREAL_DATASTORE_SYNC_DATA=$SURREAL_DATASTORE_SYNC_DATA; $N records"
"${DC[@]}" up -d >/dev/null 2>&1
for _ in $(seq 60); do healthy && break; sleep 1; done
healthy || { say "not healthy"; docker logs --tail 20 "$(cid)"; exit 1; }
say "up and healthy; $(docker logs "$(cid)" 2>&1 | grep -o 'Sync mode: [^"]*' | head -n 1)"

setup="$(curl -s -m 5 -u root:root -H 'Accept: application/json' -d 'DEFINE NAMESPACE IF NOT EXISTS t; USE NS t; DEFINE DATABASE IF NOT EXISTS t;' "http://127.0.0.1:$PORT/sql")"
case "$setup" in *'"status":"ERR"'*) say "setup failed: $setup"; exit 1;; esac
acked=0
for i in $(seq 1 "$N"); do
  out="$(sql "CREATE k:$i SET v = $i")"
  case "$out" in *'"status":"OK"'*) acked=$i;; *) say "create k:$i not acknowledged: $out"; break;; esac
done
say "acknowledged creates: k:1..k:$acked"
say "before: $(docker exec "$(cid)" chaos-fs ctl status | sed -n 's/.*"pending":\({[^}]*}\).*/pending \1/p')"
if [ "${TORN:-0}" = 1 ]; then
  say "freeze: $(docker exec "$(cid)" chaos-fs ctl freeze --torn --seed 1 | sed -n 's/.*"torn":\(.*\)}$/torn \1/p')"
else
  docker exec "$(cid)" chaos-fs ctl freeze >/dev/null
fi
docker kill "$(cid)" >/dev/null
docker start "$(cid)" >/dev/null
for _ in $(seq 60); do healthy && break; sleep 1; done
st="$(docker inspect -f '{{.State.Status}} exit={{.State.ExitCode}} health={{if .State.Health}}{{.State.Health.Status}}{{end}}' "$(cid)")"
say "after the power loss and a start: $st"
if ! healthy; then
  say "did not come back; last log lines:"; docker logs --tail 15 "$(cid)" 2>&1 | sed 's/^/    /'; exit 1
fi
out="$(sql 'SELECT count() AS n FROM k GROUP ALL')"
n="$(printf '%s' "$out" | sed -n 's/.*"n":\([0-9]*\).*/\1/p')"
say "records after the restart: ${n:-?} of $acked acknowledged ($out)"
missing=""; for i in $(seq 1 "$acked"); do
  case "$(sql "SELECT v FROM k:$i")" in *"\"v\":$i"*) ;; *) missing="$missing k:$i";; esac
done
say "missing:${missing:- none}" | cut -c1-300
