#!/usr/bin/env bash
# compose/swarm/testbed-down.sh: remove what testbed-up.sh made: the node
# containers chaos-swarm-N (and with them the Swarm, its stacks and every
# container inside), their volumes chaos-swarm-N-docker and the network
# chaos-swarm-net, and its credentials (~/.cache/chaos/swarm-testbed).
# Touches nothing else. Safe to repeat.
set -euo pipefail
removed=0
for c in $(docker ps -aq --filter label=io.chaos.testbed=swarm); do
  docker rm -f -v "$c" >/dev/null; removed=$((removed + 1))
done
for v in $(docker volume ls -q | grep -E '^chaos-swarm-[0-9]+-docker$' || true); do
  docker volume rm "$v" >/dev/null
done
docker network rm chaos-swarm-net >/dev/null 2>&1 || true
rm -rf "$HOME/.cache/chaos/swarm-testbed"
echo "[testbed] removed $removed node(s), their volumes, chaos-swarm-net and the credentials" >&2
