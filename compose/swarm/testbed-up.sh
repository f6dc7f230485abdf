#!/usr/bin/env bash
# compose/swarm/testbed-up.sh: a three-node Docker Swarm on this machine,
# each node a Docker-in-Docker container (image chaos/swarmnode:local), for
# chaos's Swarm back end (docs/scaling.md). Idempotent: a second run checks
# and returns in seconds. compose/swarm/testbed-down.sh removes it all.
#
#   bash compose/swarm/testbed-up.sh          # build what is missing, start, print [cluster.nodes]
#   bash compose/swarm/testbed-up.sh --quiet  # the same, only the nodes section on stdout
#
# What it makes (all named chaos-swarm*):
#   network  chaos-swarm-net            a private bridge between the nodes
#   nodes    chaos-swarm-1, -2, -3      hostnames chaos-swarm-1.. (the Swarm
#                                       node names); node 1 is the manager
#   volumes  chaos-swarm-N-docker       each node's /var/lib/docker
# Each node's inner engine listens on tcp 2375 WITHOUT TLS; the port is
# published on the host's 127.0.0.1 only (node N -> 127.0.0.1:2387N), so
# only local users reach it: a test bed, not a production set-up (a real
# Swarm uses tcp:// with a TLS directory or ssh://). Node N also publishes
# 127.0.0.1:2389N -> its own 2389N, the host-mode port the etcd stack
# (compose/swarm/etcd-stack.yml) gives the member placed on it.
#
# The host's engine never joins a Swarm: `docker swarm init`/`leave` on an
# engine that runs anything else detaches its compose containers from their
# networks. Swarm lives only inside the nodes.
#
# Nodes run with capabilities, not --privileged (refused here: the bounding
# set lacks CAP_SYS_RESOURCE): SYS_ADMIN NET_ADMIN MKNOD SYS_PTRACE NET_RAW,
# seccomp and apparmor unconfined, the host's cgroup namespace and
# /sys/fs/cgroup read-write; the inner dockerd uses the vfs storage driver.
# Images: chaos/etcd:3.4-local and chaos/nethelper:local are copied into
# every node with `docker save | docker load` (only when the node's copy
# differs from the host's).
#
# Environment: CHAOS_SWARM_NODES (default 3), CHAOS_SWARM_IMAGES (images to
# load, default "chaos/etcd:3.4-local chaos/nethelper:local").
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
N="${CHAOS_SWARM_NODES:-3}"
IMAGES="${CHAOS_SWARM_IMAGES:-chaos/etcd:3.4-local chaos/nethelper:local}"
NET=chaos-swarm-net
NODE_IMAGE=chaos/swarmnode:local
quiet=0
[ "${1:-}" = "--quiet" ] && quiet=1

log() { [ "$quiet" = 1 ] || printf '[testbed] %s\n' "$*" >&2; }
die() { printf '[testbed] ERROR: %s\n' "$*" >&2; exit 1; }
t0=$(date +%s.%N)

docker info >/dev/null 2>&1 || die "the Docker engine is not reachable"

# 1. The node image (and the images to load) from the local recipes.
if ! bash "$REPO/compose/images/build.sh" --check swarmnode >/dev/null 2>&1; then
  log "building $NODE_IMAGE (about 1 minute the first time)"
  bash "$REPO/compose/images/build.sh" swarmnode >&2
fi
for img in $IMAGES; do
  docker image inspect "$img" >/dev/null 2>&1 \
    || die "image $img is missing: run bash .ci/install.sh (or compose/images/build.sh)"
done

# 2. The network and the nodes.
docker network inspect "$NET" >/dev/null 2>&1 \
  || docker network create --driver bridge --label io.chaos.testbed=swarm "$NET" >/dev/null

node_exec() { local n="$1"; shift; docker exec "chaos-swarm-$n" "$@"; }

for n in $(seq 1 "$N"); do
  name="chaos-swarm-$n"
  # (docker inspect prints an empty line for a missing container.)
  state=$(docker inspect -f '{{.State.Status}}' "$name" 2>/dev/null | tr -d '\n' || true)
  state=${state:-missing}
  want=$(docker image inspect -f '{{.Id}}' "$NODE_IMAGE")
  have=$(docker inspect -f '{{.Image}}' "$name" 2>/dev/null | tr -d '\n' || true)
  if [ "$state" != missing ] && [ "$have" != "$want" ]; then
    die "$name runs an older $NODE_IMAGE: run compose/swarm/testbed-down.sh first"
  fi
  case "$state" in
    running) ;;
    missing)
      log "starting $name"
      docker run -d --name "$name" --hostname "$name" --network "$NET" \
        --label io.chaos.testbed=swarm \
        --cap-add SYS_ADMIN --cap-add NET_ADMIN --cap-add MKNOD \
        --cap-add SYS_PTRACE --cap-add NET_RAW \
        --security-opt seccomp=unconfined --security-opt apparmor=unconfined \
        --cgroupns=host -v /sys/fs/cgroup:/sys/fs/cgroup:rw \
        -v "$name-docker:/var/lib/docker" \
        -p "127.0.0.1:$((23870 + n)):2375" \
        -p "127.0.0.1:$((23890 + n)):$((23890 + n))" \
        "$NODE_IMAGE" >/dev/null ;;
    *) log "starting $name (was $state)"; docker start "$name" >/dev/null ;;
  esac
done

# 3. Each inner engine answers.
for n in $(seq 1 "$N"); do
  for _ in $(seq 1 120); do
    node_exec "$n" docker version >/dev/null 2>&1 && break
    sleep 0.5
  done
  node_exec "$n" docker version >/dev/null 2>&1 \
    || die "the engine in chaos-swarm-$n does not answer: docker logs chaos-swarm-$n"
done

# 4. The Swarm: init on node 1, join the others as workers.
swarm_state() { node_exec "$1" docker info -f '{{.Swarm.LocalNodeState}}'; }
if [ "$(swarm_state 1)" != active ]; then
  log "swarm init on chaos-swarm-1"
  addr=$(docker inspect -f "{{(index .NetworkSettings.Networks \"$NET\").IPAddress}}" chaos-swarm-1)
  node_exec 1 docker swarm init --advertise-addr "$addr" >/dev/null
fi
token=$(node_exec 1 docker swarm join-token -q worker)
manager=$(docker inspect -f "{{(index .NetworkSettings.Networks \"$NET\").IPAddress}}" chaos-swarm-1)
for n in $(seq 2 "$N"); do
  if [ "$(swarm_state "$n")" != active ]; then
    log "chaos-swarm-$n joins"
    node_exec "$n" docker swarm join --token "$token" "$manager:2377" >/dev/null
  fi
done
for _ in $(seq 1 60); do
  ready=$(node_exec 1 docker node ls -f role=worker -q | wc -l)
  ready_all=$(node_exec 1 docker node ls --format '{{.Status}}' | grep -c Ready || true)
  [ "$ready_all" -ge "$N" ] && break
  sleep 0.5
done
[ "${ready_all:-0}" -ge "$N" ] || die "only ${ready_all:-0} of $N nodes are Ready: docker exec chaos-swarm-1 docker node ls"

# 5. Images into every node (only where the node's copy differs).
for img in $IMAGES; do
  want=$(docker image inspect -f '{{.Id}}' "$img")
  for n in $(seq 1 "$N"); do
    have=$(node_exec "$n" docker image inspect -f '{{.Id}}' "$img" 2>/dev/null | tr -d '\n' || true)
    if [ "$have" != "$want" ]; then
      log "loading $img into chaos-swarm-$n"
      docker save "$img" | docker exec -i "chaos-swarm-$n" docker load >/dev/null
    fi
  done
done

t1=$(date +%s.%N)
log "ready in $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }') s; manager engine tcp://127.0.0.1:23871"
[ "$quiet" = 1 ] || echo "# paste into an experiment's [cluster] (orchestrator = \"swarm\"):"
echo "[cluster.nodes]"
for n in $(seq 1 "$N"); do
  echo "chaos-swarm-$n = { docker = \"tcp://127.0.0.1:$((23870 + n))\", address = \"127.0.0.1\" }"
done
