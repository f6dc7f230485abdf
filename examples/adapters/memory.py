#!/usr/bin/env python3
"""chaos's reference adapter: an in-memory database in one process.

It speaks chaos's client protocol (docs/clients.md) over stdin and stdout
and keeps every value in a dict. It answers one request at a time, so every
op is atomic and takes effect between its request and its reply: a history
of it is linearizable (registers), strict serializable (list-append), keeps
the bank's total and loses no element of a set. `chaos adapter-check`
passes it; a test runs a whole `chaos run` with it.

It has no server: the endpoints chaos gives it are only remembered, so the
faults of such a run strike a stand-in container and never this adapter.
It tests chaos's side of the protocol, not a database. And its state dies
with it: an adapter chaos has to restart comes back empty.

    python3 examples/adapters/memory.py [--leader]

With --leader it declares `leader` in its hello and names the first node
of the component as its leader (it has none of its own): enough to run a
leader-targeted fault through the protocol.

Python 3 standard library only. Logs go to stderr; stdout carries the
protocol and nothing else.
"""

import json
import sys

SERVES = ["register", "list-append", "bank", "set"]


def send(message):
    sys.stdout.write(json.dumps(message, separators=(",", ":")) + "\n")
    sys.stdout.flush()


def log(text):
    print("memory adapter: " + text, file=sys.stderr, flush=True)


class Memory:
    def __init__(self):
        self.prefix = ""
        self.endpoints = []
        self.data = {}

    def key(self, *parts):
        return (self.prefix,) + parts

    def invoke(self, workload, op, key, value):
        """(type, value, error) of one op."""
        if workload == "register":
            k = self.key("r", key)
            if op == "read":
                return "ok", self.data.get(k), None
            if op == "write":
                self.data[k] = value
                return "ok", None, None
            if op == "cas":
                expected, new = value
                if self.data.get(k) != expected:
                    return "fail", None, "the value differs"
                self.data[k] = new
                return "ok", None, None
        if workload == "list-append" and op == "txn":
            out = []
            for f, k, v in value:
                lk = self.key("l", k)
                if f == "append":
                    self.data.setdefault(lk, []).append(v)
                    out.append([f, k, v])
                else:
                    out.append([f, k, list(self.data.get(lk, []))])
            return "ok", out, None
        if workload == "bank":
            if op == "setup":
                for i, b in enumerate(value["balances"]):
                    self.data.setdefault(self.key("a", i), b)
                return "ok", None, None
            if op == "read":
                n = value["accounts"]
                return "ok", [self.data.get(self.key("a", i)) for i in range(n)], None
            if op == "transfer":
                src, dst = self.key("a", value["from"]), self.key("a", value["to"])
                amount = value["amount"]
                if src not in self.data or dst not in self.data:
                    return "fail", None, "no such account"
                refuse = value.get("refuse_negative", True)
                if refuse and self.data[src] < amount:
                    return "fail", None, "insufficient funds"
                self.data[src] -= amount
                self.data[dst] += amount
                return "ok", None, None
        if workload == "set":
            s = self.data.setdefault(self.key("s"), set())
            if op == "add":
                s.add(value)
                return "ok", None, None
            if op == "read":
                return "ok", sorted(s), None
        return "fail", None, "unknown op %s of %s" % (op, workload)


def main():
    leader = "--leader" in sys.argv[1:]
    send({"type": "hello", "protocol": 1, "name": "memory", "serves": SERVES, "leader": leader})
    db = Memory()
    for line in sys.stdin:
        if not line.strip():
            continue
        m = json.loads(line)
        t = m["type"]
        if t == "init":
            db.prefix = m["prefix"]
            db.endpoints = m["endpoints"]
            log("init: %d clients, %s workload, prefix %s" % (m["clients"], m["workload"], db.prefix))
            send({"id": m["id"], "type": "ok"})
        elif t == "endpoints":
            db.endpoints = m["endpoints"]
        elif t == "leader":
            if leader and m["nodes"]:
                send({"id": m["id"], "type": "ok", "value": m["nodes"][0]})
            else:
                send({"id": m["id"], "type": "fail", "error": "no leader"})
        elif t == "invoke":
            kind, value, error = db.invoke(m["workload"], m["op"], m.get("key"), m["value"])
            reply = {"id": m["id"], "type": kind}
            if value is not None:
                reply["value"] = value
            if error is not None:
                reply["error"] = error
            send(reply)
        else:
            log("ignoring a message of type %s" % t)


if __name__ == "__main__":
    main()
