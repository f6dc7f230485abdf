#!/usr/bin/env python3
"""A scripted adapter for chaos's tests: an in-memory register (and list)
store that misbehaves in one chosen way.

    python3 tests/adapters/scripted.py MODE [ARG]

Modes:
  good           behaves (registers, list-append)
  garbage        answers the first op with a line that is not JSON
  wrong-id       answers the first op with an id chaos never sent
  bad-value      answers a read `ok` with a string for a value
  die-once ARG   exits without answering the first op, if file ARG does not
                 exist (it creates it first): the restarted adapter behaves
  die-always     exits without answering any op
  slow ARG       answers every op after ARG seconds
  exit-at-start  writes to stderr and exits 3 before its hello
  no-hello       prints a reply instead of its hello
  init-fails     answers init with fail
  silent-leader  declares `leader` but never answers a leader request
  no-leader      does not declare `leader`
"""

import json
import os
import sys
import time

mode = sys.argv[1]
arg = sys.argv[2] if len(sys.argv) > 2 else None


def send(m):
    sys.stdout.write(json.dumps(m) + "\n")
    sys.stdout.flush()


if mode == "exit-at-start":
    print("scripted: cannot connect to the database", file=sys.stderr, flush=True)
    sys.exit(3)
if mode == "no-hello":
    send({"id": 1, "type": "ok"})
    time.sleep(5)
    sys.exit(0)

send({
    "type": "hello",
    "protocol": 1,
    "name": "scripted-" + mode,
    "serves": ["register", "list-append"],
    "leader": mode != "no-leader",
})

data = {}
ops = 0
for line in sys.stdin:
    m = json.loads(line)
    t = m["type"]
    if t == "init":
        send({"id": m["id"], "type": "fail" if mode == "init-fails" else "ok",
              "error": "the database refused" if mode == "init-fails" else None})
        continue
    if t == "endpoints":
        print("scripted: endpoints " + json.dumps(m["endpoints"]), file=sys.stderr, flush=True)
        continue
    if t == "leader":
        if mode == "silent-leader":
            continue
        send({"id": m["id"], "type": "ok", "value": m["nodes"][-1]})
        continue
    ops += 1
    if mode == "garbage" and ops == 1:
        sys.stdout.write("this is not json\n")
        sys.stdout.flush()
        continue
    if mode == "wrong-id" and ops == 1:
        send({"id": m["id"] + 1000, "type": "ok"})
        continue
    if mode == "die-always" or (mode == "die-once" and not os.path.exists(arg)):
        if mode == "die-once":
            open(arg, "w").close()
        print("scripted: dying mid-op", file=sys.stderr, flush=True)
        os._exit(7)
    if mode == "slow":
        time.sleep(float(arg))
    k = (m["workload"], m.get("key"))
    if m["workload"] == "list-append":
        out = []
        for f, key, v in m["value"]:
            lst = data.setdefault(("l", key), [])
            if f == "append":
                lst.append(v)
                out.append([f, key, v])
            else:
                out.append([f, key, list(lst)])
        send({"id": m["id"], "type": "ok", "value": out})
    elif m["op"] == "read":
        value = "seven" if mode == "bad-value" else data.get(k)
        send({"id": m["id"], "type": "ok", "value": value})
    elif m["op"] == "write":
        data[k] = m["value"]
        send({"id": m["id"], "type": "ok"})
    else:
        e, n = m["value"]
        if data.get(k) == e:
            data[k] = n
            send({"id": m["id"], "type": "ok"})
        else:
            send({"id": m["id"], "type": "fail", "error": "differs"})
