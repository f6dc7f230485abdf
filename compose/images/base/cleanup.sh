#!/bin/sh
# Trim a freshly built Debian root file system: package caches, apt lists,
# docs, man pages and locales are not needed at run time, and files that the
# container runtime provides (hostname, resolv.conf) are reset.
# Usage: cleanup.sh ROOT   (ROOT is "/" inside a Dockerfile, or a debootstrap
# directory on the host). Same script for both routes, so both bases match.
set -eu
root="${1:?usage: cleanup.sh ROOT}"
root="${root%/}"
rm -rf "$root"/var/cache/apt/archives/*.deb \
       "$root"/var/cache/apt/*.bin \
       "$root"/var/lib/apt/lists/* \
       "$root"/var/log/apt/* "$root"/var/log/dpkg.log "$root"/var/log/bootstrap.log \
       "$root"/var/log/alternatives.log \
       "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/info/* \
       "$root"/tmp/* "$root"/var/tmp/*
# Keep only the C/POSIX locale data that glibc needs.
find "$root"/usr/share/locale -mindepth 1 -maxdepth 1 ! -name 'locale.alias' -exec rm -rf {} + 2>/dev/null || true
# On a host-side root file system (debootstrap route), reset what the
# container runtime provides per container. Inside a Dockerfile (ROOT=/)
# these are bind mounts of the build container: leave them alone.
if [ -n "$root" ]; then
  : > "$root"/etc/hostname
  : > "$root"/etc/resolv.conf
  if [ -f "$root"/etc/machine-id ]; then : > "$root"/etc/machine-id; fi
fi
