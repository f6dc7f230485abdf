#!/usr/bin/env python3
"""A deliberately broken adapter that `chaos adapter-check` must fail.

It speaks the protocol well (hello, init, ids, one reply per request), so
every failure adapter-check reports is about what it answers:
  - a compare-and-set always succeeds, whatever the value was (a `cas`
    sent as a plain write: a classic adapter bug);
  - a transaction applies its micro-ops one by one and reads a key as it
    was when the transaction began (no own writes);
  - a bank transfer never refuses an overdraft;
  - a set read forgets the first element added.
"""

import json
import sys


def send(m):
    sys.stdout.write(json.dumps(m) + "\n")
    sys.stdout.flush()


send({"type": "hello", "protocol": 1, "name": "broken",
      "serves": ["register", "list-append", "bank", "set"]})
data = {}
for line in sys.stdin:
    m = json.loads(line)
    t = m["type"]
    if t == "init":
        send({"id": m["id"], "type": "ok"})
        continue
    if t != "invoke":
        continue
    w, op, key, value = m["workload"], m["op"], m.get("key"), m["value"]
    reply = {"id": m["id"], "type": "ok"}
    if w == "register":
        if op == "read":
            reply["value"] = data.get(("r", key))
        elif op == "write":
            data[("r", key)] = value
        else:
            data[("r", key)] = value[1]  # the bug: no compare
    elif w == "list-append":
        before = {k: list(v) for k, v in data.items() if k[0] == "l"}
        out = []
        for f, k, v in value:
            if f == "append":
                data.setdefault(("l", k), []).append(v)
                out.append([f, k, v])
            else:
                out.append([f, k, before.get(("l", k), [])])  # the bug
        reply["value"] = out
    elif w == "bank":
        if op == "setup":
            for i, b in enumerate(value["balances"]):
                data.setdefault(("a", i), b)
        elif op == "read":
            reply["value"] = [data.get(("a", i)) for i in range(value["accounts"])]
        else:
            data[("a", value["from"])] -= value["amount"]  # the bug: no refusal
            data[("a", value["to"])] += value["amount"]
    elif w == "set":
        s = data.setdefault(("s",), [])
        if op == "add":
            s.append(value)
        else:
            reply["value"] = sorted(s)[1:]  # the bug
    send(reply)
