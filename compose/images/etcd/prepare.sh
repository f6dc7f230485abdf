#!/usr/bin/env bash
# prepare.sh for the etcd image: chaos-fs and chaos-entrypoint into the
# build context (compose/images/shared/chaos-fs-prepare.sh).
set -euo pipefail
exec bash "$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/shared/chaos-fs-prepare.sh"
