#!/usr/bin/env python3
"""Copy an experiment file so that it runs on a compose project of its own.

    own-project.py SRC DST SUFFIX

The copy's `project` gets `-SUFFIX` and its published ports move to a
block of its own (CHAOS_ETCD1..3_PORT, CHAOS_SURREALDB1_PORT and
CHAOS_PG_PRIMARY_PORT / CHAOS_PG_REPLICA_PORT in `cluster.env`, merged
with any `env` the file has: 20000 + 10 x (a number drawn from SUFFIX) +
1..3 for etcd, + 5 for SurrealDB, + 6 and 7 for PostgreSQL), so that a
many-seed campaign can run beside CI or another campaign on the shipped
projects. Fixed ports, not the engine's choice ("0"): a node restarted by
a fault would come back on another port, which the clients do not look up
again.
Write DST next to SRC: the compose path in the file is relative to it.
Everything else (workload, faults, checker) is the file's own.
"""
import re
import sys

src, dst, suffix = sys.argv[1:4]
text = open(src).read()
base = 20000 + 10 * (sum(suffix.encode()) % 900)
ports = ", ".join(
    f'{k} = "{base + n}"'
    for k, n in [("CHAOS_ETCD1_PORT", 1), ("CHAOS_ETCD2_PORT", 2), ("CHAOS_ETCD3_PORT", 3), ("CHAOS_SURREALDB1_PORT", 5), ("CHAOS_PG_PRIMARY_PORT", 6), ("CHAOS_PG_REPLICA_PORT", 7)]
)
text, n = re.subn(r'(?m)^project = "([^"]+)"', rf'project = "\1-{suffix}"', text, count=1)
if n != 1:
    sys.exit(f"{src}: no `project = \"...\"` line")
if re.search(r"(?m)^env = \{", text):
    text = re.sub(r"(?m)^env = \{\s*", f"env = {{ {ports}, ", text, count=1)
else:
    text = re.sub(r'(?m)^(project = "[^"]+")$', rf"\1\nenv = {{ {ports} }}", text, count=1)
open(dst, "w").write(text)
