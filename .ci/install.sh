#!/usr/bin/env bash
# .ci/install.sh: prepare a fresh Debian machine for chaos's tests, as root,
# idempotently. A second run does no network work and takes about a second.
#
#   bash .ci/install.sh
#
# 1. Host packages: debootstrap (builds the base image where no registry
#    answers), curl and jq (used by scripts and by hand). `apt-get update`
#    runs only when a package is missing.
# 2. Docker: the engine must answer, and a compose CLI must exist
#    (`docker compose` v2 or `docker-compose` v1).
# 3. Images: compose/images/build.sh (a no-op when every image is current;
#    about 1.5 min on a fresh machine, seconds with the cached rootfs in
#    /var/cache/chaos), then `build.sh surrealdb` (about 50 min the first time
#    on 2 cores: it compiles the SurrealDB server; seconds once its binary is
#    cached), then a smoke test of each image.
#
# Every step prints one line; a failure names the step and exits non-zero.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STEP="start"
T0=$(date +%s)

say()  { printf '[install] %s\n' "$*"; }
fail() { trap - EXIT; printf '[install] FAILED at step "%s": %s\n' "$STEP" "$*" >&2; exit 1; }
on_exit() {
  local rc=$?
  [ "$rc" -eq 0 ] || printf '[install] FAILED at step "%s" (exit %s)\n' "$STEP" "$rc" >&2
}
trap on_exit EXIT

# ------------------------------------------------------------- packages --
STEP="host packages"
PKGS="debootstrap curl jq"
missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
done
if [ -n "$missing" ]; then
  [ "$(id -u)" = 0 ] || fail "need root to install:$missing (run: sudo bash .ci/install.sh)"
  say "installing:$missing"
  export DEBIAN_FRONTEND=noninteractive
  # Try without an update first (cheap when the lists are fresh), then update.
  if ! apt-get install -y -qq --no-install-recommends $missing >/tmp/chaos-install-apt.log 2>&1; then
    say "apt-get update"
    apt-get update -qq >>/tmp/chaos-install-apt.log 2>&1 || { tail -n 20 /tmp/chaos-install-apt.log >&2; fail "apt-get update failed"; }
    apt-get install -y -qq --no-install-recommends $missing >>/tmp/chaos-install-apt.log 2>&1 \
      || { tail -n 20 /tmp/chaos-install-apt.log >&2; fail "apt-get install$missing failed (log: /tmp/chaos-install-apt.log)"; }
  fi
  say "installed:$missing"
else
  say "host packages present: $PKGS"
fi

# --------------------------------------------------------------- docker --
STEP="docker"
command -v docker >/dev/null 2>&1 || fail "the docker CLI is not installed"
if ! server="$(docker version --format '{{.Server.Version}} (API {{.Server.APIVersion}})' 2>&1)"; then
  fail "the Docker engine does not answer: $(printf '%s' "$server" | tr -s '\n' ' ')"
fi
if docker compose version >/dev/null 2>&1; then
  compose="docker compose $(docker compose version --short 2>/dev/null)"
elif command -v docker-compose >/dev/null 2>&1; then
  compose="$(docker-compose version --short 2>/dev/null | sed 's/^/docker-compose /')"
else
  fail "no compose CLI: install docker-compose (apt-get install docker-compose) or the compose plugin"
fi
say "docker engine $server; $compose"

# --------------------------------------------------------------- images --
STEP="images"
"$ROOT/compose/images/build.sh" || fail "compose/images/build.sh failed (see its output above)"
# The SurrealDB server image is not a default recipe (its first build
# compiles SurrealDB: about 50 min on 2 cores; later runs reuse the binary
# cached under /var/cache/chaos/surrealdb-bin).
STEP="surrealdb image"
"$ROOT/compose/images/build.sh" surrealdb || fail "compose/images/build.sh surrealdb failed (see its output above)"

STEP="image smoke test"
eval "$("$ROOT/compose/images/build.sh" --print-tags)"
# shellcheck disable=SC2154  # set by the eval above
v="$(docker run --rm --network none "$etcd_alias" --version 2>&1 | sed -n 's/^etcd Version: //p')"
[ -n "$v" ] || fail "$etcd_alias does not run etcd --version"
# shellcheck disable=SC2154
n="$(docker run --rm --network none --cap-add NET_ADMIN "$nethelper_alias" chaos-net count 2>&1)" \
  || fail "$nethelper_alias cannot run iptables with NET_ADMIN: $n"
# shellcheck disable=SC2154
s="$(docker run --rm --network none "$surrealdb_alias" version 2>&1 | head -n 1)" \
  || fail "$surrealdb_alias does not run surreal version: $s"
say "smoke test: $etcd_alias runs etcd $v; $nethelper_alias runs iptables (chaos rules: $n); $surrealdb_alias runs surreal $s"

STEP="done"
say "ready in $(( $(date +%s) - T0 ))s"
