#!/usr/bin/env bash
# prepare.sh for the surrealdb image: put a compiled `surreal` binary into
# the build context ($CHAOS_IMAGE_CONTEXT), from the cache when it has one
# for this exact server/ crate, else by a release build (about 50 min on 2
# idle cores); then chaos-fs and chaos-entrypoint
# (../shared/chaos-fs-prepare.sh).
#
# Needs a Linux host with cargo whose glibc is not newer than the base
# image's (the Dockerfile runs the binary and fails the build otherwise).
#
# Cache ($CHAOS_IMAGE_CACHE): surrealdb-bin/surreal-<hash of server/> and the
# cargo target dir surrealdb-target/ (incremental rebuilds after a change).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
: "${CHAOS_IMAGE_CONTEXT:?set by build.sh}"
: "${CHAOS_IMAGE_CACHE:?set by build.sh}"

hash="$( (cd "$HERE/server" && find . -type f ! -path './target/*' -print | LC_ALL=C sort \
          | while IFS= read -r f; do printf '%s %s\n' "$f" "$(sha256sum < "$f" | cut -d' ' -f1)"; done) \
        | sha256sum | cut -c1-12)"
bin_dir="$CHAOS_IMAGE_CACHE/surrealdb-bin"
bin="$bin_dir/surreal-$hash"

if [ -x "$bin" ]; then
  echo "surrealdb: cached binary $bin"
else
  [ "$(uname -s)" = Linux ] || { echo "surrealdb: the binary must be built on Linux (this is $(uname -s))" >&2; exit 2; }
  command -v cargo >/dev/null 2>&1 || { echo "surrealdb: cargo is needed to build the SurrealDB server (https://rustup.rs)" >&2; exit 2; }
  echo "surrealdb: building the SurrealDB server (release; about 50 min on 2 idle cores)"
  t0=$(date +%s)
  (cd "$HERE/server" && CARGO_TARGET_DIR="$CHAOS_IMAGE_CACHE/surrealdb-target" \
     cargo build --release --locked)
  mkdir -p "$bin_dir"
  cp "$CHAOS_IMAGE_CACHE/surrealdb-target/release/surreal" "$bin.tmp"
  mv -f "$bin.tmp" "$bin"
  # Keep the two newest binaries.
  ls -t "$bin_dir"/surreal-* 2>/dev/null | tail -n +3 | xargs -r rm -f
  echo "surrealdb: built in $(( $(date +%s) - t0 ))s: $bin ($(du -h "$bin" | cut -f1))"
fi
cp "$bin" "$CHAOS_IMAGE_CONTEXT/surreal"
rm -rf "$CHAOS_IMAGE_CONTEXT/server"
# chaos-fs and chaos-entrypoint (compose/images/shared).
bash "$HERE/../shared/chaos-fs-prepare.sh"
