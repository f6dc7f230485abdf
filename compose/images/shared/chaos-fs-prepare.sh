#!/usr/bin/env bash
# chaos-fs-prepare.sh: put the chaos-fs binary and chaos-entrypoint into a
# recipe's build context ($CHAOS_IMAGE_CONTEXT). Called by the etcd and
# surrealdb recipes' prepare.sh, with build.sh's environment.
#
# The binary is compiled on the host (cargo build --release --locked -p
# chaos-fs, about a minute the first time) and cached as
# $CHAOS_IMAGE_CACHE/chaos-fs-bin/chaos-fs-<hash of chaos-fs/>, so a second
# image, or a rebuild after a base change, only copies it. The host must be
# Linux with a glibc no newer than the base image's (Debian bookworm, 2.36),
# as for the SurrealDB binary. Known limit: the key is the crate's own
# directory; a Cargo.lock change that moves one of its dependencies needs a
# change under chaos-fs/ (or `rm -r $CHAOS_IMAGE_CACHE/chaos-fs-bin`).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
: "${CHAOS_IMAGE_CONTEXT:?set by build.sh}"
: "${CHAOS_IMAGE_CACHE:?set by build.sh}"
: "${CHAOS_REPO:?set by build.sh}"

sha() { if command -v sha256sum >/dev/null 2>&1; then sha256sum | cut -c1-64; else shasum -a 256 | cut -c1-64; fi; }
hash="$( (cd "$CHAOS_REPO/chaos-fs" && find . -type f ! -path './target/*' ! -name '*~' -print | LC_ALL=C sort \
          | while IFS= read -r f; do printf '%s %s\n' "$f" "$(sha < "$f")"; done) | sha | cut -c1-12)"
bin_dir="$CHAOS_IMAGE_CACHE/chaos-fs-bin"
bin="$bin_dir/chaos-fs-$hash"

if [ -x "$bin" ]; then
  echo "chaos-fs: cached binary $bin"
else
  [ "$(uname -s)" = Linux ] || { echo "chaos-fs: the binary must be built on Linux (this is $(uname -s))" >&2; exit 2; }
  command -v cargo >/dev/null 2>&1 || { echo "chaos-fs: cargo is needed to build chaos-fs (https://rustup.rs)" >&2; exit 2; }
  echo "chaos-fs: building chaos-fs (release, about a minute)"
  t0=$(date +%s)
  CARGO_TARGET_DIR="$CHAOS_IMAGE_CACHE/chaos-fs-target" CARGO_PROFILE_RELEASE_DEBUG=0 CARGO_PROFILE_RELEASE_STRIP=true \
    cargo build --release --locked -p chaos-fs --manifest-path "$CHAOS_REPO/Cargo.toml"
  mkdir -p "$bin_dir"
  cp "$CHAOS_IMAGE_CACHE/chaos-fs-target/release/chaos-fs" "$bin.tmp"
  mv -f "$bin.tmp" "$bin"
  # Keep the three newest binaries.
  ls -t "$bin_dir"/chaos-fs-* 2>/dev/null | tail -n +4 | xargs -r rm -f
  echo "chaos-fs: built in $(( $(date +%s) - t0 ))s: $bin ($(du -h "$bin" | cut -f1))"
fi
cp "$bin" "$CHAOS_IMAGE_CONTEXT/chaos-fs"
cp "$HERE/chaos-entrypoint" "$CHAOS_IMAGE_CONTEXT/chaos-entrypoint"
