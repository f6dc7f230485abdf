#!/usr/bin/env python3
"""Copy an experiment file so that it runs on a compose project of its own.

    own-project.py SRC DST SUFFIX

The copy's `project` gets `-SUFFIX` and its published ports are chosen by
the engine (CHAOS_ETCD1..3_PORT and CHAOS_SURREALDB1_PORT set to "0" in
`cluster.env`, merged with any `env` the file has), so that a many-seed
campaign can run beside CI or another campaign on the shipped projects.
Write DST next to SRC: the compose path in the file is relative to it.
Everything else (workload, faults, checker) is the file's own.
"""
import re
import sys

src, dst, suffix = sys.argv[1:4]
text = open(src).read()
ports = ", ".join(
    f'{k} = "0"'
    for k in ["CHAOS_ETCD1_PORT", "CHAOS_ETCD2_PORT", "CHAOS_ETCD3_PORT", "CHAOS_SURREALDB1_PORT"]
)
text, n = re.subn(r'(?m)^project = "([^"]+)"', rf'project = "\1-{suffix}"', text, count=1)
if n != 1:
    sys.exit(f"{src}: no `project = \"...\"` line")
if re.search(r"(?m)^env = \{", text):
    text = re.sub(r"(?m)^env = \{\s*", f"env = {{ {ports}, ", text, count=1)
else:
    text = re.sub(r'(?m)^(project = "[^"]+")$', rf"\1\nenv = {{ {ports} }}", text, count=1)
open(dst, "w").write(text)
