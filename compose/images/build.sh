#!/usr/bin/env bash
# compose/images/build.sh: build the local images that chaos's compose files
# use, idempotently. See docs/images.md for the whole story.
#
#   compose/images/build.sh                 build what is missing or stale
#   compose/images/build.sh --check         report, build nothing (exit 1 if stale)
#   compose/images/build.sh --print-tags    print key=value lines (add --json for JSON)
#   compose/images/build.sh etcd            only the base and the named image(s)
#
# Images (each tag = recipe hash; plus a stable alias the compose files use):
#   chaos/debian-base:bookworm-<hash>   alias chaos/debian-base:bookworm-local
#   chaos/etcd:3.4.23-<hash>            alias chaos/etcd:3.4-local
#   chaos/nethelper:<hash>              alias chaos/nethelper:local
#
# The hash of an image is a short SHA-256 over its recipe directory
# (compose/images/<name>/) and, for derived images, the base's hash: change
# any recipe file and exactly the images that depend on it are rebuilt.
#
# The base is built one of two ways (same packages, same cleanup, same tag):
#   registry:    FROM a pinned public debian image + apt-get install, where
#                that image is present or can be pulled (Docker Desktop...).
#   debootstrap: debootstrap --variant=minbase + docker import, where no
#                registry answers (needs root and debootstrap). The root file
#                system tarball is cached outside the clone, so a rebuild on
#                the same machine takes seconds.
#
# Environment:
#   CHAOS_IMAGE_ROUTE   auto (default) | registry | debootstrap
#   CHAOS_IMAGE_CACHE   cache directory (default /var/cache/chaos when
#                       writable, else ${XDG_CACHE_HOME:-~/.cache}/chaos)
#   CHAOS_DEBIAN_MIRROR mirror URL for debootstrap (default: debootstrap's own)
#   CHAOS_PULL_TIMEOUT  seconds allowed for `docker pull` of the pinned image
#                       when probing the registry route (default 120)
#
# Exit status: 0 success (or, with --check, everything up to date);
#              1 with --check: something is missing or stale;
#              2 error (usage, Docker unreachable, a build failed).
#
# Written for bash 3.2 too (macOS): no associative arrays, no mapfile.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"

mode=build          # build | check | tags | list
tags_format="env"   # env | json
force=0
verbose=0
prune=0
route="${CHAOS_IMAGE_ROUTE:-auto}"
selected=""

log()  { printf '[images] %s\n' "$*" >&2; }
die()  { printf '[images] ERROR: %s\n' "$*" >&2; exit 2; }

usage() {
  sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '/^set -euo/d' -e 's/^# \{0,1\}//'
  cat <<'EOF'
Options:
  --check           report whether every image is up to date; build nothing
  --print-tags      print the tags (key=value lines; with --json, one object)
  --json            JSON output for --print-tags
  --list            list the recipes
  --force           rebuild even if up to date (and redo the cached rootfs)
  --route R         auto | registry | debootstrap (overrides CHAOS_IMAGE_ROUTE)
  --prune           after building, remove chaos images of older recipes
  -v, --verbose     stream build output (it is always written to a log file)
  -h, --help        this text
EOF
}

while [ $# -gt 0 ]; do
  case "$1" in
    --check) mode=check ;;
    --print-tags) mode=tags ;;
    --json) tags_format=json ;;
    --list) mode=list ;;
    --force) force=1 ;;
    --prune) prune=1 ;;
    --route) [ $# -ge 2 ] || die "--route needs a value"; route="$2"; shift ;;
    --route=*) route="${1#--route=}" ;;
    -v|--verbose) verbose=1 ;;
    -h|--help) usage; exit 0 ;;
    -*) die "unknown option: $1 (see --help)" ;;
    *) selected="$selected $1" ;;
  esac
  shift
done
case "$route" in auto|registry|debootstrap) ;; *) die "bad route '$route' (auto, registry or debootstrap)";; esac

# ---------------------------------------------------------------- recipes --

# recipe_get FILE KEY: the value of KEY=... in a recipe.env (last one wins).
recipe_get() {
  local v
  v="$(sed -n "s/^$2=//p" "$1" | tail -n 1)"
  v="${v%\"}"; v="${v#\"}"
  printf '%s' "$v"
}

sha256_stdin() {
  if command -v sha256sum >/dev/null 2>&1; then sha256sum | cut -c1-64
  else shasum -a 256 | cut -c1-64; fi
}

# digest_path PATH: "relative-path sha256" lines for every file under PATH
# (or PATH itself), in a stable order. Editor droppings are ignored.
digest_path() {
  local p="$1"
  if [ -d "$p" ]; then
    (cd "$p" && find . -type f ! -name '*~' ! -name '.*.sw?' ! -name '.DS_Store' ! -path '*/target/*' -print \
      | LC_ALL=C sort | while IFS= read -r f; do
          printf '%s %s\n' "$f" "$(sha256_stdin < "$f")"
        done)
  elif [ -f "$p" ]; then
    printf '%s %s\n' "$(basename "$p")" "$(sha256_stdin < "$p")"
  else
    die "recipe input not found: $p"
  fi
}

short_hash() { sha256_stdin | cut -c1-12; }

[ -f "$HERE/base/recipe.env" ] || die "missing $HERE/base/recipe.env"
SUITE="$(recipe_get "$HERE/base/recipe.env" SUITE)"
DEBIAN_IMAGE="$(recipe_get "$HERE/base/recipe.env" DEBIAN_IMAGE)"
[ -n "$SUITE" ] && [ -n "$DEBIAN_IMAGE" ] || die "base/recipe.env must set SUITE and DEBIAN_IMAGE"

BASE_HASH="$(digest_path "$HERE/base" | short_hash)"
BASE_TAG="chaos/debian-base:${SUITE}-${BASE_HASH}"
BASE_ALIAS="chaos/debian-base:${SUITE}-local"

# Derived recipes: every directory with a recipe.env and a Dockerfile, but base.
RECIPES=""
for d in "$HERE"/*/; do
  n="$(basename "$d")"
  [ "$n" = base ] && continue
  [ -f "$d/recipe.env" ] && [ -f "$d/Dockerfile" ] || continue
  RECIPES="$RECIPES $n"
done

recipe_hash() {  # NAME
  local d="$HERE/$1" extra p
  extra="$(recipe_get "$d/recipe.env" HASH_EXTRA)"
  {
    printf 'base %s\n' "$BASE_HASH"
    digest_path "$d"
    for p in $extra; do digest_path "$REPO/$p" | sed "s|^|$p:|"; done
  } | short_hash
}
recipe_tag() {   # NAME HASH
  local v
  v="$(recipe_get "$HERE/$1/recipe.env" VERSION)"
  printf 'chaos/%s:%s%s' "$1" "${v:+$v-}" "$2"
}
recipe_alias() { # NAME
  local a
  a="$(recipe_get "$HERE/$1/recipe.env" ALIAS)"
  [ -n "$a" ] || die "$1/recipe.env must set ALIAS"
  printf 'chaos/%s:%s' "$1" "$a"
}
recipe_default() { # NAME: built when no name is given, unless DEFAULT=no
  [ "$(recipe_get "$HERE/$1/recipe.env" DEFAULT)" != "no" ]
}

# The recipes this run is about.
if [ -n "$selected" ]; then
  for n in $selected; do
    case " $RECIPES base " in *" $n "*) ;; *) die "no recipe named '$n' (have:$RECIPES)";; esac
  done
  TARGETS=""
  for n in $selected; do [ "$n" = base ] || TARGETS="$TARGETS $n"; done
else
  TARGETS=""
  for n in $RECIPES; do recipe_default "$n" && TARGETS="$TARGETS $n"; done
fi

# ---------------------------------------------------------------- outputs --

if [ "$mode" = list ]; then
  printf 'base\t%s\t%s\n' "$BASE_TAG" "$BASE_ALIAS"
  for n in $RECIPES; do
    h="$(recipe_hash "$n")"
    printf '%s\t%s\t%s%s\n' "$n" "$(recipe_tag "$n" "$h")" "$(recipe_alias "$n")" \
      "$(recipe_default "$n" || printf '\t(on demand)')"
  done
  exit 0
fi

if [ "$mode" = tags ]; then
  key() { printf '%s' "$1" | tr -c 'A-Za-z0-9_\n' '_'; }
  if [ "$tags_format" = json ]; then
    printf '{"base":{"tag":"%s","alias":"%s","hash":"%s"}' "$BASE_TAG" "$BASE_ALIAS" "$BASE_HASH"
    for n in $RECIPES; do
      h="$(recipe_hash "$n")"
      printf ',"%s":{"tag":"%s","alias":"%s","hash":"%s"}' "$n" "$(recipe_tag "$n" "$h")" "$(recipe_alias "$n")" "$h"
    done
    printf '}\n'
  else
    printf 'base=%s\nbase_alias=%s\n' "$BASE_TAG" "$BASE_ALIAS"
    for n in $RECIPES; do
      h="$(recipe_hash "$n")"
      printf '%s=%s\n%s_alias=%s\n' "$(key "$n")" "$(recipe_tag "$n" "$h")" "$(key "$n")" "$(recipe_alias "$n")"
    done
  fi
  exit 0
fi

# ------------------------------------------------------------------ docker --

command -v docker >/dev/null 2>&1 || die "the docker CLI is not installed"
if ! docker_err="$(docker version --format '{{.Server.Version}}' 2>&1 >/dev/null)"; then
  die "cannot reach the Docker engine: ${docker_err:-docker version failed} (is dockerd running? DOCKER_HOST=${DOCKER_HOST:-unset})"
fi

# image_state TAG ALIAS HASH: ok | alias | missing
#   ok:      TAG exists with the recipe hash label and ALIAS points at it
#   alias:   TAG is right but ALIAS is missing or points elsewhere
#   missing: TAG is absent, or carries another recipe hash
image_state() {
  local info id h aid
  info="$(docker image inspect -f '{{.Id}} {{index .Config.Labels "org.chaos.recipe-hash"}}' "$1" 2>/dev/null)" \
    || { echo missing; return; }
  id="${info%% *}"; h="${info#* }"
  [ "$h" = "$3" ] || { echo missing; return; }
  aid="$(docker image inspect -f '{{.Id}}' "$2" 2>/dev/null || true)"
  if [ "$aid" = "$id" ]; then echo ok; else echo alias; fi
}

if [ "$mode" = check ]; then
  stale=0
  report() { # NAME TAG ALIAS HASH
    local s; s="$(image_state "$2" "$3" "$4")"
    case "$s" in
      ok) log "up to date: $1 $2 (alias $3)";;
      alias) log "ALIAS STALE: $1 $2 exists, alias $3 does not point at it"; stale=1;;
      missing) log "MISSING: $1 $2"; stale=1;;
    esac
  }
  report base "$BASE_TAG" "$BASE_ALIAS" "$BASE_HASH"
  for n in $TARGETS; do
    h="$(recipe_hash "$n")"; report "$n" "$(recipe_tag "$n" "$h")" "$(recipe_alias "$n")" "$h"
  done
  if [ "$stale" = 0 ]; then log "all images up to date"; exit 0; fi
  log "some images need building: run $0"
  exit 1
fi

# ------------------------------------------------------------------ build --

# The cache lives outside the clone: the rootfs tarball and build logs.
if [ -n "${CHAOS_IMAGE_CACHE:-}" ]; then CACHE="$CHAOS_IMAGE_CACHE"
elif mkdir -p /var/cache/chaos 2>/dev/null && [ -w /var/cache/chaos ]; then CACHE=/var/cache/chaos
else CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/chaos"; fi
mkdir -p "$CACHE/logs" || die "cannot create the cache directory $CACHE"

# Nothing to build: say so and leave without the lock, so that a long build
# of another image (the SurrealDB server compiles for most of an hour) never
# holds up `install.sh` or a check of images that are already current.
if [ "$force" = 0 ]; then
  all_ok=1
  [ "$(image_state "$BASE_TAG" "$BASE_ALIAS" "$BASE_HASH")" = ok ] || all_ok=0
  for n in $TARGETS; do
    h="$(recipe_hash "$n")"
    [ "$(image_state "$(recipe_tag "$n" "$h")" "$(recipe_alias "$n")" "$h")" = ok ] || all_ok=0
  done
  if [ "$all_ok" = 1 ]; then
    log "up to date: base $BASE_TAG"
    for n in $TARGETS; do log "up to date: $n $(recipe_tag "$n" "$(recipe_hash "$n")")"; done
    log "nothing to build"
    exit 0
  fi
fi

# One build at a time per cache (CI and a person may both run this).
if command -v flock >/dev/null 2>&1; then
  exec 9>"$CACHE/build.lock"
  if ! flock -n 9; then
    log "another build.sh holds $CACHE/build.lock; waiting for it"
    flock 9
  fi
fi

ROOTFS_WORK=""
CTX_WORK=""
unmount_under() { # DIR: lazily unmount everything mounted below DIR
  [ -r /proc/mounts ] || return 0
  awk -v p="$1/" 'index($2, p) == 1 { print $2 }' /proc/mounts | sort -r \
    | while IFS= read -r m; do umount -l "$m" 2>/dev/null || true; done
}
cleanup() {
  if [ -n "$ROOTFS_WORK" ] && [ -d "$ROOTFS_WORK" ]; then
    unmount_under "$ROOTFS_WORK"
    rm -rf --one-file-system "$ROOTFS_WORK" 2>/dev/null || rm -rf "$ROOTFS_WORK"
  fi
  if [ -n "$CTX_WORK" ] && [ -d "$CTX_WORK" ]; then rm -rf "$CTX_WORK"; fi
}
trap cleanup EXIT
trap 'log "interrupted"; exit 2' INT TERM

# run_logged LOG CMD...: run CMD with its output in LOG (and on the terminal
# with --verbose); on failure show the end of LOG and fail the script.
run_logged() {
  local logf="$1"; shift
  printf '### %s\n### %s\n' "$(date -u +%FT%TZ)" "$*" >> "$logf"
  local rc=0
  if [ "$verbose" = 1 ]; then
    "$@" 2>&1 | tee -a "$logf" >&2 || rc=$?
  else
    "$@" >> "$logf" 2>&1 || rc=$?
  fi
  if [ "$rc" != 0 ]; then
    log "FAILED (exit $rc): $*"
    log "last lines of $logf:"
    tail -n 30 "$logf" | sed 's/^/    /' >&2
    die "build failed; full log: $logf"
  fi
}

now() { date +%s; }
SUMMARY=""
note() { SUMMARY="$SUMMARY$(printf '  %-10s %-40s %s' "$1" "$2" "$3")
"; }

registry_available() {
  if docker image inspect "$DEBIAN_IMAGE" >/dev/null 2>&1; then
    log "registry route: $DEBIAN_IMAGE is present locally"
    return 0
  fi
  local t="${CHAOS_PULL_TIMEOUT:-120}" out rc=0
  log "probing the registry: docker pull $DEBIAN_IMAGE (at most ${t}s)"
  if command -v timeout >/dev/null 2>&1; then
    out="$(timeout "$t" docker pull -q "$DEBIAN_IMAGE" 2>&1)" || rc=$?
  else
    out="$(docker pull -q "$DEBIAN_IMAGE" 2>&1)" || rc=$?
  fi
  if [ "$rc" = 0 ]; then log "registry route: pulled $DEBIAN_IMAGE"; return 0; fi
  log "no registry: $(printf '%s' "$out" | tail -n 1)"
  return 1
}

debootstrap_possible() {
  command -v debootstrap >/dev/null 2>&1 && [ "$(id -u)" = 0 ]
}

packages_list() { grep -v '^[[:space:]]*\(#\|$\)' "$HERE/base/packages" | tr -d ' \t'; }

base_labels_change() { # ROUTE
  printf 'LABEL org.chaos.image=debian-base org.chaos.recipe-hash=%s org.chaos.suite=%s org.chaos.route=%s' \
    "$BASE_HASH" "$SUITE" "$1"
}

# Build the debootstrap root file system and pack it into TARBALL.
make_rootfs_tarball() { # TARBALL LOG
  local tarball="$1" logf="$2" includes t0
  [ "$(id -u)" = 0 ] || die "the debootstrap route needs root: run sudo $0 (or use a machine where $DEBIAN_IMAGE can be pulled)"
  command -v debootstrap >/dev/null 2>&1 || die "debootstrap is not installed: apt-get install -y debootstrap (or run: bash .ci/install.sh)"
  includes="$(packages_list | paste -sd, -)"
  ROOTFS_WORK="$CACHE/rootfs-${SUITE}-${BASE_HASH}.tmp"
  if [ -e "$ROOTFS_WORK" ]; then
    log "removing a leftover $ROOTFS_WORK"
    unmount_under "$ROOTFS_WORK"; rm -rf --one-file-system "$ROOTFS_WORK"
  fi
  t0="$(now)"
  log "debootstrap --variant=minbase --include=$includes $SUITE (about 1.5 min; log: $logf)"
  # shellcheck disable=SC2086
  run_logged "$logf" debootstrap --variant=minbase --include="$includes" "$SUITE" "$ROOTFS_WORK" ${CHAOS_DEBIAN_MIRROR:-}
  unmount_under "$ROOTFS_WORK"
  run_logged "$logf" sh "$HERE/base/cleanup.sh" "$ROOTFS_WORK"
  run_logged "$logf" tar --numeric-owner -C "$ROOTFS_WORK" -cf "$tarball.tmp" .
  mv -f "$tarball.tmp" "$tarball"
  rm -rf --one-file-system "$ROOTFS_WORK"; ROOTFS_WORK=""
  # Keep the two newest base tarballs (this recipe and the one before, so
  # that going back one recipe is fast too); older ones go.
  ls -t "$CACHE"/debian-base-*.tar 2>/dev/null | tail -n +3 | while IFS= read -r f; do
    log "removing old cached rootfs $(basename "$f")"; rm -f "$f"
  done
  log "rootfs tarball ready in $(( $(now) - t0 ))s: $tarball ($(du -h "$tarball" | cut -f1))"
}

ensure_base() {
  local state logf arch tarball t0 r
  state="$(image_state "$BASE_TAG" "$BASE_ALIAS" "$BASE_HASH")"
  [ "$force" = 1 ] && state=missing
  case "$state" in
    ok) log "up to date: $BASE_TAG"; note base "$BASE_TAG" "up to date"; return;;
    alias) docker tag "$BASE_TAG" "$BASE_ALIAS"; log "re-tagged $BASE_ALIAS -> $BASE_TAG"
           note base "$BASE_TAG" "alias re-tagged"; return;;
  esac
  t0="$(now)"
  logf="$CACHE/logs/debian-base-$BASE_HASH.log"
  arch="$(dpkg --print-architecture 2>/dev/null || uname -m)"
  tarball="$CACHE/debian-base-${SUITE}-${BASE_HASH}-${arch}.tar"

  if [ "$force" = 0 ] && [ -s "$tarball" ] && [ "$route" != registry ]; then
    r="debootstrap (cached rootfs)"
  else
    case "$route" in
      registry) registry_available || die "route 'registry' asked for, but $DEBIAN_IMAGE cannot be pulled"; r=registry;;
      debootstrap) r=debootstrap;;
      auto)
        if registry_available; then r=registry
        elif debootstrap_possible; then r=debootstrap
        else
          die "cannot build the base: $DEBIAN_IMAGE cannot be pulled (no registry) and the debootstrap route needs root and debootstrap (apt-get install -y debootstrap; or run: sudo bash .ci/install.sh)"
        fi;;
    esac
  fi

  log "building $BASE_TAG by route: $r"
  case "$r" in
    registry)
      run_logged "$logf" docker build -f "$HERE/base/Dockerfile.registry" \
        --build-arg "DEBIAN_IMAGE=$DEBIAN_IMAGE" \
        --label org.chaos.image=debian-base --label "org.chaos.recipe-hash=$BASE_HASH" \
        --label "org.chaos.suite=$SUITE" --label org.chaos.route=registry \
        -t "$BASE_TAG" "$HERE/base"
      ;;
    debootstrap*)
      [ "$r" = debootstrap ] && make_rootfs_tarball "$tarball" "$logf"
      log "docker import $(basename "$tarball") -> $BASE_TAG"
      run_logged "$logf" docker import \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'ENV LANG=C.UTF-8' \
        --change 'CMD ["/bin/bash"]' \
        --change "$(base_labels_change debootstrap)" \
        "$tarball" "$BASE_TAG"
      ;;
  esac
  docker tag "$BASE_TAG" "$BASE_ALIAS"
  log "built $BASE_TAG (alias $BASE_ALIAS) in $(( $(now) - t0 ))s"
  note base "$BASE_TAG" "built ($r, $(( $(now) - t0 ))s)"
}

ensure_recipe() { # NAME
  local n="$1" h tag alias state logf t0 ver
  h="$(recipe_hash "$n")"; tag="$(recipe_tag "$n" "$h")"; alias="$(recipe_alias "$n")"
  state="$(image_state "$tag" "$alias" "$h")"
  [ "$force" = 1 ] && state=missing
  case "$state" in
    ok) log "up to date: $tag"; note "$n" "$tag" "up to date"; return;;
    alias) docker tag "$tag" "$alias"; log "re-tagged $alias -> $tag"; note "$n" "$tag" "alias re-tagged"; return;;
  esac
  t0="$(now)"
  logf="$CACHE/logs/$n-$h.log"
  ver="$(recipe_get "$HERE/$n/recipe.env" VERSION)"
  CTX_WORK="$(mktemp -d "${TMPDIR:-/tmp}/chaos-image-$n.XXXXXX")"
  cp -R "$HERE/$n/." "$CTX_WORK/"
  if [ -f "$HERE/$n/prepare.sh" ]; then
    log "$n: running prepare.sh"
    run_logged "$logf" env CHAOS_IMAGE_CONTEXT="$CTX_WORK" CHAOS_IMAGE_CACHE="$CACHE" \
      CHAOS_REPO="$REPO" CHAOS_BASE_IMAGE="$BASE_TAG" bash "$HERE/$n/prepare.sh"
  fi
  log "building $tag FROM $BASE_TAG (log: $logf)"
  run_logged "$logf" docker build -f "$CTX_WORK/Dockerfile" \
    --build-arg "BASE=$BASE_TAG" --build-arg "VERSION=$ver" \
    --label "org.chaos.image=$n" --label "org.chaos.recipe-hash=$h" \
    --label "org.chaos.base-hash=$BASE_HASH" \
    -t "$tag" "$CTX_WORK"
  rm -rf "$CTX_WORK"; CTX_WORK=""
  docker tag "$tag" "$alias"
  log "built $tag (alias $alias) in $(( $(now) - t0 ))s"
  note "$n" "$tag" "built ($(( $(now) - t0 ))s)"
}

prune_old() {
  local keep="$BASE_TAG $BASE_ALIAS" n h ref
  for n in $RECIPES; do h="$(recipe_hash "$n")"; keep="$keep $(recipe_tag "$n" "$h") $(recipe_alias "$n")"; done
  docker image ls --filter label=org.chaos.image --format '{{.Repository}}:{{.Tag}}' | while IFS= read -r ref; do
    case "$ref" in chaos/*) ;; *) continue;; esac
    case " $keep " in *" $ref "*) continue;; esac
    if docker rmi "$ref" >/dev/null 2>&1; then log "pruned $ref"; else log "kept $ref (in use?)"; fi
  done
  # Untagged leftovers of chaos images (e.g. after --force), and only those.
  docker image prune -f --filter label=org.chaos.image >/dev/null 2>&1 \
    && log "pruned dangling chaos images" || log "could not prune dangling chaos images"
}

T_START="$(now)"
log "recipes in $HERE; cache $CACHE"
ensure_base
for n in $TARGETS; do ensure_recipe "$n"; done
[ "$prune" = 1 ] && prune_old
log "done in $(( $(now) - T_START ))s:"
printf '%s' "$SUMMARY" >&2
exit 0
