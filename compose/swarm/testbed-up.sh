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
# Each node's engine is reached from the host on 127.0.0.1:2387N only, and
# each of the three ways chaos speaks to an engine is used by one node:
#   chaos-swarm-1 (the manager)  tcp with TLS: the engine's 2376 with
#                                --tlsverify; chaos's client certificate in
#                                ~/.cache/chaos/swarm-testbed/tls
#   chaos-swarm-2                ssh: the node's sshd (root, key only);
#                                ~/.cache/chaos/swarm-testbed/ssh/config
#   chaos-swarm-3 (and more)     tcp without TLS: the engine's 2375
# The credentials (a CA, the engine's and the client's certificates, an ssh
# key pair and the node's host key) are made once with openssl and
# ssh-keygen under ~/.cache/chaos/swarm-testbed, and removed by
# testbed-down.sh. Node N also publishes 127.0.0.1:2389N -> its own 2389N,
# the host-mode port the etcd stack (compose/swarm/etcd-stack.yml) gives
# the member placed on it.
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
STATE="$HOME/.cache/chaos/swarm-testbed"
# The same directory as chaos reads it in [cluster.nodes] (`~/` expanded).
STATE_SHOWN="~/.cache/chaos/swarm-testbed"
# How node N's engine is reached, and the port inside the node for it.
endpoint_kind() { case "$1" in 1) echo tls ;; 2) echo ssh ;; *) echo tcp ;; esac; }
inner_port() { case "$(endpoint_kind "$1")" in tls) echo 2376 ;; ssh) echo 22 ;; *) echo 2375 ;; esac; }
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

# 2. The credentials, made once (openssl, ssh-keygen).
for tool in openssl ssh-keygen ssh; do
  command -v "$tool" >/dev/null 2>&1 \
    || die "$tool is missing: apt-get install openssl openssh-client (or bash .ci/install.sh --tests)"
done
if [ ! -f "$STATE/complete" ]; then
  if [ -n "$(docker ps -aq --filter label=io.chaos.testbed=swarm)" ]; then
    die "the test bed's credentials under $STATE are missing but its nodes exist: run compose/swarm/testbed-down.sh first"
  fi
  log "making the test bed's credentials in $STATE"
  rm -rf "$STATE"
  mkdir -p "$STATE/tls" "$STATE/ssh" "$STATE/node-1/tls" "$STATE/node-2/ssh"
  chmod 700 "$STATE" "$STATE/tls" "$STATE/ssh"
  (
    cd "$STATE"
    ossl() { openssl "$@" 2>>"$STATE/openssl.log" || die "openssl $1 failed: $(tail -n 5 "$STATE/openssl.log")"; }
    ossl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 3650 \
      -subj /CN=chaos-swarm-testbed-ca -keyout ca-key.pem -out tls/ca.pem \
      -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
    sign() { # name subject extensions
      ossl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=$2" \
        -keyout "$1-key.pem" -out "$1.csr"
      printf '%s\n' "$3" >"$1.ext"
      ossl x509 -req -in "$1.csr" -CA tls/ca.pem -CAkey ca-key.pem -CAcreateserial \
        -days 3650 -extfile "$1.ext" -out "$1-cert.pem"
    }
    sign server chaos-swarm-1 "subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:chaos-swarm-1
extendedKeyUsage=serverAuth
keyUsage=critical,digitalSignature"
    sign client chaos-client "extendedKeyUsage=clientAuth
keyUsage=critical,digitalSignature"
    cp tls/ca.pem node-1/tls/ca.pem
    mv server-cert.pem node-1/tls/server-cert.pem
    mv server-key.pem node-1/tls/server-key.pem
    mv client-cert.pem tls/cert.pem
    mv client-key.pem tls/key.pem
    rm -f ./*.csr ./*.ext ./*.srl
    chmod 600 tls/key.pem node-1/tls/server-key.pem ca-key.pem
    ssh-keygen -q -t ed25519 -N '' -C chaos-swarm-testbed -f ssh/id_ed25519
    ssh-keygen -q -t ed25519 -N '' -C chaos-swarm-2 -f node-2/ssh/ssh_host_ed25519_key
    cp ssh/id_ed25519.pub node-2/ssh/authorized_keys
    printf '[127.0.0.1]:23872 %s\n' "$(cut -d' ' -f1,2 node-2/ssh/ssh_host_ed25519_key.pub)" >ssh/known_hosts
    cat >ssh/config <<CONFIG
# chaos's Swarm test bed (compose/swarm/testbed-up.sh): ssh to its node 2.
Host 127.0.0.1
  IdentityFile $STATE_SHOWN/ssh/id_ed25519
  IdentitiesOnly yes
  UserKnownHostsFile $STATE_SHOWN/ssh/known_hosts
  StrictHostKeyChecking yes
CONFIG
  ) || die "could not make the credentials (see $STATE/openssl.log)"
  touch "$STATE/complete"
fi

# 3. The network and the nodes.
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
      mkdir -p "$STATE/node-$n"
      log "starting $name"
      docker run -d --name "$name" --hostname "$name" --network "$NET" \
        --label io.chaos.testbed=swarm \
        --cap-add SYS_ADMIN --cap-add NET_ADMIN --cap-add MKNOD \
        --cap-add SYS_PTRACE --cap-add NET_RAW \
        --security-opt seccomp=unconfined --security-opt apparmor=unconfined \
        --cgroupns=host -v /sys/fs/cgroup:/sys/fs/cgroup:rw \
        -v "$name-docker:/var/lib/docker" \
        -v "$STATE/node-$n:/etc/chaos-testbed:ro" \
        -p "127.0.0.1:$((23870 + n)):$(inner_port "$n")" \
        -p "127.0.0.1:$((23890 + n)):$((23890 + n))" \
        "$NODE_IMAGE" >/dev/null ;;
    *) log "starting $name (was $state)"; docker start "$name" >/dev/null ;;
  esac
done

# 4. Each inner engine answers.
for n in $(seq 1 "$N"); do
  for _ in $(seq 1 120); do
    node_exec "$n" docker version >/dev/null 2>&1 && break
    sleep 0.5
  done
  node_exec "$n" docker version >/dev/null 2>&1 \
    || die "the engine in chaos-swarm-$n does not answer: docker logs chaos-swarm-$n"
done

# 5. The Swarm: init on node 1, join the others as workers.
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

# 6. Images into every node (only where the node's copy differs).
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

# 7. Each engine answers from the host the way chaos will reach it.
for n in $(seq 1 "$N"); do
  port=$((23870 + n))
  case "$(endpoint_kind "$n")" in
    tls) check=(docker --tlsverify --tlscacert "$STATE/tls/ca.pem" --tlscert "$STATE/tls/cert.pem"
                --tlskey "$STATE/tls/key.pem" -H "tcp://127.0.0.1:$port" info -f '{{.Name}}') ;;
    ssh) check=(ssh -F "$STATE/ssh/config" -o BatchMode=yes -p "$port" root@127.0.0.1
                docker info -f '{{.Name}}') ;;
    *)   check=(docker -H "tcp://127.0.0.1:$port" info -f '{{.Name}}') ;;
  esac
  name=""
  for _ in $(seq 1 40); do
    name=$("${check[@]}" 2>/dev/null | tr -d '\r\n' || true)
    [ "$name" = "chaos-swarm-$n" ] && break
    sleep 0.5
  done
  [ "$name" = "chaos-swarm-$n" ] \
    || die "chaos-swarm-$n's engine does not answer over $(endpoint_kind "$n") on 127.0.0.1:$port: ${check[*]}: $("${check[@]}" 2>&1 | tail -n 3)"
done

t1=$(date +%s.%N)
log "ready in $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }') s; manager engine tcp://127.0.0.1:23871 (TLS)"
[ "$quiet" = 1 ] || echo "# paste into an experiment's [cluster] (orchestrator = \"swarm\"):"
echo "[cluster.nodes]"
for n in $(seq 1 "$N"); do
  port=$((23870 + n))
  case "$(endpoint_kind "$n")" in
    tls) echo "chaos-swarm-$n = { docker = \"tcp://127.0.0.1:$port\", tls_dir = \"$STATE_SHOWN/tls\", address = \"127.0.0.1\" }" ;;
    ssh) echo "chaos-swarm-$n = { docker = \"ssh://root@127.0.0.1:$port\", ssh_config = \"$STATE_SHOWN/ssh/config\", address = \"127.0.0.1\" }" ;;
    *)   echo "chaos-swarm-$n = { docker = \"tcp://127.0.0.1:$port\", address = \"127.0.0.1\" }" ;;
  esac
done
