#!/usr/bin/env bash
# .ci/install.sh: prepare a fresh Debian machine for chaos, as root,
# idempotently. A second run does no network work and takes about a second.
#
#   bash .ci/install.sh            what an etcd experiment needs (README command 1)
#   bash .ci/install.sh --tests    and what the whole test suite needs (README
#                                  command 2)
#   bash .ci/install.sh --tests --no-surrealdb
#                                  all of --tests but the SurrealDB image
#   bash .ci/install.sh --only-surrealdb
#                                  only the SurrealDB image (with what it
#                                  stands on); .ci/run starts it in the
#                                  background after --no-surrealdb, so that
#                                  its long first build overlaps the tests
#                                  that do not need it
#
# 1. Host packages: debootstrap (builds the base image where no registry
#    answers), curl and jq (used by scripts and by hand). `apt-get update`
#    runs only when a package is missing.
# 2. Docker: the engine must answer, and a compose CLI must exist
#    (`docker compose` v2 or `docker-compose` v1).
# 3. Images: compose/images/build.sh (the Debian base, etcd and the network
#    helper: a no-op when every image is current; about 1.5 min on a fresh
#    machine, seconds with the cached rootfs in /var/cache/chaos), then a
#    smoke test of each image.
# 4. With --tests (unless --no-surrealdb) or --only-surrealdb: the SurrealDB
#    server image (`build.sh surrealdb`: compiles the SurrealDB server the
#    first time, announced with its expected time; seconds once its binary
#    is cached), and its smoke test.
#    An etcd experiment never waits for it; `chaos run`/`chaos up` of a
#    SurrealDB experiment says it is missing (or builds it with
#    --build-images).
# 5. With --tests only: the Swarm test-bed node image (`build.sh swarmnode`:
#    Debian's docker.io and openssh-server on the base, about 1 minute the
#    first time, a no-op when current), a check that its dockerd runs, and
#    the host's openssl and openssh-client (the test bed makes TLS
#    certificates and an ssh key; chaos reaches node 2 over ssh). The Swarm test group
#    (CHAOS_SWARM_TESTS=1) starts its three nodes from it
#    (compose/swarm/testbed-up.sh); the host's engine never joins a Swarm.
# 6. With --tests only: the PostgreSQL image (`build.sh postgres`: Debian's
#    postgresql-15 on the base, about 2 minutes the first time, a no-op
#    when current) and its smoke test (`postgres --version`); the Docker
#    tests of tests/it/postgres.rs run its compose/postgres.yml. And
#    Debian's python3-psycopg2, for the Python adapter those tests run
#    (examples/adapters/postgres.py, under /usr/bin/python3).
# 7. With --tests only: Debian's Chromium and a font (chromium,
#    fonts-dejavu-core) for the browser tests of the report pages
#    (CHAOS_BROWSER_TESTS=1), installed only when missing, and a check that
#    it starts headless (a second or two).
#
# Every step prints one line; a failure names the step and exits non-zero.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TESTS=0
SURREALDB=1      # with --tests: build the SurrealDB image
ONLY_SURREALDB=0
ARGS="$*"
for arg in "$@"; do
  case "$arg" in
    --tests) TESTS=1 ;;
    --no-surrealdb) SURREALDB=0 ;;
    --only-surrealdb) ONLY_SURREALDB=1 ;;
    -h|--help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '/^set -euo/d' -e 's/^# \{0,1\}//'; exit 0 ;;
    *) printf '[install] unknown argument: %s (see --help)\n' "$arg" >&2; exit 2 ;;
  esac
done
STEP="start"
T0=$(date +%s)
if [ "$ONLY_SURREALDB" = 1 ] && { [ "$TESTS" = 1 ] || [ "$SURREALDB" = 0 ]; }; then
  printf '[install] --only-surrealdb goes alone\n' >&2; exit 2
fi

say()  { printf '[install] %s\n' "$*"; }
fail() { trap - EXIT; printf '[install] FAILED at step "%s": %s\n' "$STEP" "$*" >&2; exit 1; }
on_exit() {
  local rc=$?
  [ "$rc" -eq 0 ] || printf '[install] FAILED at step "%s" (exit %s)\n' "$STEP" "$rc" >&2
}
trap on_exit EXIT

# apt_install WHY PACKAGE...: install the packages that are missing (one
# line saying which and why), trying without `apt-get update` first (cheap
# when the lists are fresh); prints the missing list, empty when none was.
apt_install() {
  local why="$1"; shift
  local missing="" p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
  done
  [ -n "$missing" ] || return 0
  [ "$(id -u)" = 0 ] || fail "need root to install:$missing (run: sudo bash .ci/install.sh $ARGS)"
  say "installing:$missing${why:+ ($why)}" >&2
  export DEBIAN_FRONTEND=noninteractive
  # shellcheck disable=SC2086  # a list of package names
  if ! apt-get install -y -qq --no-install-recommends $missing >>/tmp/chaos-install-apt.log 2>&1; then
    say "apt-get update" >&2
    apt-get update -qq >>/tmp/chaos-install-apt.log 2>&1 || { tail -n 20 /tmp/chaos-install-apt.log >&2; fail "apt-get update failed"; }
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $missing >>/tmp/chaos-install-apt.log 2>&1 \
      || { tail -n 20 /tmp/chaos-install-apt.log >&2; fail "apt-get install$missing failed (log: /tmp/chaos-install-apt.log)"; }
  fi
  printf '%s' "$missing"
}

if [ "$ONLY_SURREALDB" = 0 ]; then
# ------------------------------------------------------------- packages --
STEP="host packages"
PKGS="debootstrap curl jq"
# shellcheck disable=SC2086
installed="$(apt_install "" $PKGS)"
if [ -n "$installed" ]; then
  say "installed:$installed"
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
eval "$("$ROOT/compose/images/build.sh" --print-tags)"

STEP="image smoke test"
# shellcheck disable=SC2154  # set by the eval above
v="$(docker run --rm --network none "$etcd_alias" --version 2>&1 | sed -n 's/^etcd Version: //p')"
[ -n "$v" ] || fail "$etcd_alias does not run etcd --version"
# shellcheck disable=SC2154
n="$(docker run --rm --network none --cap-add NET_ADMIN "$nethelper_alias" chaos-net count 2>&1)" \
  || fail "$nethelper_alias cannot run iptables with NET_ADMIN: $n"
say "smoke test: $etcd_alias runs etcd $v; $nethelper_alias runs iptables (chaos rules: $n)"
fi  # ONLY_SURREALDB = 0

if { [ "$TESTS" = 1 ] && [ "$SURREALDB" = 1 ]; } || [ "$ONLY_SURREALDB" = 1 ]; then
  eval "$("$ROOT/compose/images/build.sh" --print-tags)"
  # The SurrealDB server image is not a default recipe: its first build
  # compiles SurrealDB (recipe.env's FIRST_BUILD says how long; later runs
  # reuse the binary cached under /var/cache/chaos/surrealdb-bin).
  STEP="surrealdb image"
  first="$(sed -n 's/^FIRST_BUILD="\(.*\)"$/\1/p' "$ROOT/compose/images/surrealdb/recipe.env")"
  if ! "$ROOT/compose/images/build.sh" --check surrealdb >/dev/null 2>&1; then
    say "building the SurrealDB server image: ${first:-a long build}"
  fi
  "$ROOT/compose/images/build.sh" surrealdb || fail "compose/images/build.sh surrealdb failed (see its output above)"
  # shellcheck disable=SC2154
  s="$(docker run --rm --network none "$surrealdb_alias" version 2>&1 | head -n 1)" \
    || fail "$surrealdb_alias does not run surreal version: $s"
  say "smoke test: $surrealdb_alias runs surreal $s"
fi

if [ "$TESTS" = 1 ]; then
  # The Swarm test bed's node image (not a default recipe).
  STEP="swarmnode image"
  if ! "$ROOT/compose/images/build.sh" --check swarmnode >/dev/null 2>&1; then
    first="$(sed -n 's/^FIRST_BUILD="\(.*\)"$/\1/p' "$ROOT/compose/images/swarmnode/recipe.env")"
    say "building the Swarm test-bed node image: ${first:-a minute or so}"
  fi
  "$ROOT/compose/images/build.sh" swarmnode || fail "compose/images/build.sh swarmnode failed (see its output above)"
  apt_install "the Swarm test bed's TLS and ssh" openssl openssh-client >/dev/null
  # shellcheck disable=SC2154
  d="$(docker run --rm --network none --entrypoint dockerd "$swarmnode_alias" --version 2>&1)" \
    || fail "$swarmnode_alias does not run dockerd --version: $d"
  say "smoke test: $swarmnode_alias runs $d"
fi

if [ "$TESTS" = 1 ]; then
  # The PostgreSQL server image (not a default recipe): Debian's
  # postgresql-15 installed on the base inside the build.
  STEP="postgres image"
  if ! "$ROOT/compose/images/build.sh" --check postgres >/dev/null 2>&1; then
    first="$(sed -n 's/^FIRST_BUILD="\(.*\)"$/\1/p' "$ROOT/compose/images/postgres/recipe.env")"
    say "building the PostgreSQL image: ${first:-a minute or two}"
  fi
  "$ROOT/compose/images/build.sh" postgres || fail "compose/images/build.sh postgres failed (see its output above)"
  eval "$("$ROOT/compose/images/build.sh" --print-tags)"
  # shellcheck disable=SC2154
  p="$(docker run --rm --network none --entrypoint postgres "$postgres_alias" --version 2>&1)" \
    || fail "$postgres_alias does not run postgres --version: $p"
  say "smoke test: $postgres_alias runs $p"
  # The Python adapter for PostgreSQL (examples/adapters/postgres.py) runs
  # under Debian's interpreter with Debian's psycopg2; the Docker test of
  # tests/it/postgres.rs runs it beside the native client.
  apt_install "the PostgreSQL example adapter" python3-psycopg2 >/dev/null
  v="$(/usr/bin/python3 -c 'import psycopg2; print(psycopg2.__version__.split()[0])' 2>&1)" \
    || fail "/usr/bin/python3 cannot import psycopg2: $v"
  say "python3-psycopg2: /usr/bin/python3 imports psycopg2 $v"
fi

if [ "$TESTS" = 1 ]; then
  # The browser tests open report.html in Debian's Chromium, headless.
  STEP="chromium"
  apt_install "the browser tests; about 100 MB" chromium fonts-dejavu-core >/dev/null
  c="$(chromium --headless --no-sandbox --disable-gpu --dump-dom 'data:text/html,<p>ok</p>' 2>/dev/null)" \
    || fail "chromium does not start headless"
  case "$c" in *'<p>ok</p>'*) ;; *) fail "chromium --headless --dump-dom printed no page" ;; esac
  say "chromium: $(chromium --version 2>/dev/null | head -n 1) starts headless"
fi

STEP="done"
say "ready in $(( $(date +%s) - T0 ))s"
