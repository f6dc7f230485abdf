#!/usr/bin/python3
"""A chaos adapter for PostgreSQL, with Debian's psycopg2.

It speaks chaos's client protocol (docs/clients.md) over stdin and stdout
and serves every workload (registers, list-append transactions, the bank
and the set) against a real PostgreSQL server: the adapter the protocol
was made for, beside chaos's native Rust client (src/client/postgres.rs),
whose SQL and rule it follows.

    /usr/bin/python3 examples/adapters/postgres.py

Needs Debian's `python3-psycopg2` (`apt-get install python3-psycopg2`;
`.ci/install.sh --tests` installs it) and therefore Debian's interpreter:
run it as `/usr/bin/python3`, not a `python3` found first on the PATH (a
pyenv or venv interpreter has no psycopg2).

`[workload.adapter] options` (all optional):
  isolation   "serializable" (default), "repeatable-read" or "read-committed":
              every transaction's level, and the session's default (the
              register and set statements)
  timeout_ms  how long one op may take here (default 1000): past it the
              connection is closed and the op answered by the rule below.
              Keep it at or under `workload.timeout`, so that the adapter
              answers before chaos stops waiting (chaos would resolve the op
              by the same rule, but the adapter knows more: it knows whether
              COMMIT was sent)
  user, password, database
              default chaos / chaos / chaos (compose/postgres.yml)

Tables (created if absent at `init` on each endpoint that is not a standby;
keys, accounts and the set are named from the run's `prefix`, so every run
starts empty): adapter_register (k text, v bigint), adapter_list (k text,
v bigint[]), adapter_set (r text, e bigint), adapter_bank (k text, b bigint).

- register read: SELECT v; write: INSERT ... ON CONFLICT DO UPDATE; cas:
  UPDATE ... WHERE v = expected (no row: the comparison failed, `fail`);
  each its own transaction at the session's level;
- list-append txn: BEGIN ISOLATION LEVEL <level>; per micro-op a SELECT of
  the list or an INSERT ... ON CONFLICT DO UPDATE SET v = v || new; COMMIT;
- bank setup: INSERT ... ON CONFLICT DO NOTHING per account; read: one
  transaction of one SELECT (or, the read-skew control `each`, a statement
  per account); transfer: one transaction of UPDATE ... SET b = b - amount
  WHERE b >= amount (no row: refused, `fail`) and UPDATE ... b = b + amount
  (the lost-update control `unguarded`: read both balances, write the new
  values computed here);
- set add: INSERT; read: SELECT of the run's elements.

Outcomes (the rule of docs/clients.md: an uncertain outcome is `info`,
never `fail`):
- `fail` when nothing can have happened: an op that only reads, an error
  before the statement that commits was sent (connecting, inside BEGIN
  before COMMIT: the server rolls the transaction back), or a server ERROR
  that proves a rollback (40001 serialization failure, 40P01 deadlock,
  classes 23, 22, 42, 25, 0A, and 55P03 lock_timeout);
- `info` otherwise once a write statement or COMMIT was sent: the connection
  lost, the op's time up, a FATAL (the server shutting down as it commits),
  a statement cancelled by statement_timeout (57014), anything unknown.

One thread and one connection per client and node (chaos sends each client's
ops in order, and its clients at once); a connection whose op did not end in
a server ERROR is closed, never reused. `leader` is answered with the
endpoint that is not in recovery (SELECT pg_is_in_recovery()). An
`endpoints` message moves each connection to its node's new port at its next
op.

Logs go to stderr; stdout carries the protocol and nothing else.
"""

import json
import queue
import select
import sys
import threading
import time

try:
    import psycopg2
    import psycopg2.extensions
except ImportError as e:
    # The hello needs no database library (`chaos plan` reads it anywhere);
    # `init` then fails saying why, and chaos quotes it.
    psycopg2 = None
    MISSING = (
        "%s: install Debian's python3-psycopg2 and run this adapter with "
        "/usr/bin/python3 (%s has none)" % (e, sys.executable)
    )

SERVES = ["register", "list-append", "bank", "set"]
LEVELS = {
    "serializable": "SERIALIZABLE",
    "repeatable-read": "REPEATABLE READ",
    "repeatable read": "REPEATABLE READ",
    "read-committed": "READ COMMITTED",
    "read committed": "READ COMMITTED",
}
# SQLSTATE classes of an ERROR that proves the transaction rolled back.
ROLLED_BACK_CLASSES = ("40", "23", "22", "42", "25", "0A")
LOCK_NOT_AVAILABLE = "55P03"

OUT = threading.Lock()


def send(message):
    line = json.dumps(message, separators=(",", ":")) + "\n"
    with OUT:
        sys.stdout.write(line)
        sys.stdout.flush()


def log(text):
    sys.stderr.write("postgres adapter: %s\n" % text)
    sys.stderr.flush()


# --- time: every blocking call of psycopg2 waits here, under a deadline ---

DEADLINE = threading.local()


class OutOfTime(Exception):
    pass


def wait(conn):
    """psycopg2's wait callback (green mode): poll the connection until its
    call is done, or raise OutOfTime at this thread's deadline."""
    while True:
        state = conn.poll()
        if state == psycopg2.extensions.POLL_OK:
            return
        left = getattr(DEADLINE, "at", None)
        left = None if left is None else left - time.monotonic()
        if left is not None and left <= 0:
            raise OutOfTime("timed out")
        if state == psycopg2.extensions.POLL_READ:
            select.select([conn.fileno()], [], [], left)
        elif state == psycopg2.extensions.POLL_WRITE:
            select.select([], [conn.fileno()], [], left)
        else:
            raise psycopg2.OperationalError("bad poll state %r" % state)


if psycopg2 is not None:
    psycopg2.extensions.set_wait_callback(wait)


# --- what an error makes of an op ---

CONNECT, BODY, COMMIT = 0, 1, 2


def severity(e):
    diag = getattr(e, "diag", None)
    s = diag and (diag.severity_nonlocalized or diag.severity)
    return s or None


def answered(e):
    """The server answered with an ERROR: the session is still in step."""
    return psycopg2 is not None and isinstance(e, psycopg2.Error) and severity(e) == "ERROR"


def rolled_back(e):
    code = getattr(e, "pgcode", None) or ""
    return answered(e) and (code[:2] in ROLLED_BACK_CLASSES or code == LOCK_NOT_AVAILABLE)


def describe(e):
    if isinstance(e, OutOfTime):
        return "timed out"
    code = getattr(e, "pgcode", None)
    text = " ".join(str(e).split())
    if code:
        return "%s %s: %s" % (severity(e) or "ERROR", code, text)
    return text or type(e).__name__


def classify(read_only, stage, e):
    """"fail" or "info" for an op that failed with `e` at `stage`."""
    if read_only or stage != COMMIT or rolled_back(e):
        return "fail"
    return "info"


class Refused(Exception):
    """The database refused the op (a cas that did not compare, an
    overdraft): it did not happen."""


# --- the adapter ---


class Adapter:
    def __init__(self):
        self.endpoints = {}
        self.lock = threading.Lock()
        self.prefix = ""
        self.level = "SERIALIZABLE"
        self.timeout = 1.0
        self.auth = {}
        self.workers = {}

    def endpoint(self, node):
        with self.lock:
            e = self.endpoints.get(node)
        if e is None:
            raise KeyError("no endpoint for node %s" % node)
        return e["host"], e["port"]

    def set_endpoints(self, endpoints):
        with self.lock:
            self.endpoints = {e["node"]: e for e in endpoints}

    def connect(self, host, port, deadline, session=True):
        """A connection to host:port; with `session`, at the run's level and
        timeouts (a standby refuses a serializable default: `session=False`
        for the connections of `init` and `leader`, which only ask)."""
        DEADLINE.at = deadline
        conn = psycopg2.connect(
            host=host,
            port=port,
            user=self.auth.get("user", "chaos"),
            password=self.auth.get("password", "chaos"),
            dbname=self.auth.get("database", "chaos"),
            application_name="chaos-adapter",
        )
        conn.autocommit = True  # BEGIN and COMMIT are ours
        if not session:
            return conn
        ms = max(1, int(self.timeout * 1000))
        lock_ms = min(1000, max(50, ms // 10))
        cur = conn.cursor()
        cur.execute(
            "SET default_transaction_isolation = '%s'; SET statement_timeout = %d; "
            "SET lock_timeout = %d; SET client_connection_check_interval = 1000"
            % (self.level.lower(), ms, lock_ms)
        )
        return conn

    def init(self, m):
        if psycopg2 is None:
            raise RuntimeError(MISSING)
        options = m.get("options") or {}
        level = str(options.get("isolation", "serializable")).lower()
        if level not in LEVELS:
            raise ValueError(
                "options.isolation %r: expected serializable, repeatable-read or read-committed"
                % options.get("isolation")
            )
        self.level = LEVELS[level]
        self.timeout = float(options.get("timeout_ms", 1000)) / 1000.0
        self.auth = {k: options[k] for k in ("user", "password", "database") if k in options}
        self.prefix = m["prefix"]
        self.set_endpoints(m["endpoints"])
        primaries = 0
        for e in m["endpoints"]:
            conn = self.connect(e["host"], e["port"], time.monotonic() + 10, session=False)
            try:
                DEADLINE.at = time.monotonic() + 20
                cur = conn.cursor()
                cur.execute("SELECT pg_is_in_recovery()")
                if cur.fetchone()[0]:
                    continue  # a standby: the tables come by replication
                primaries += 1
                cur.execute(
                    "CREATE TABLE IF NOT EXISTS adapter_register (k text PRIMARY KEY, v bigint NOT NULL);"
                    "CREATE TABLE IF NOT EXISTS adapter_list (k text PRIMARY KEY, v bigint[] NOT NULL);"
                    "CREATE TABLE IF NOT EXISTS adapter_set (r text, e bigint, PRIMARY KEY (r, e));"
                    "CREATE TABLE IF NOT EXISTS adapter_bank (k text PRIMARY KEY, b bigint NOT NULL);"
                )
            finally:
                conn.close()
        if m["endpoints"] and primaries == 0:
            raise ValueError("no endpoint is a primary (every one is in recovery)")
        log("init: %d clients, %s, %s, prefix %s" % (m["clients"], m["workload"], self.level, self.prefix))

    def submit(self, m):
        """Queue an invoke for its client's thread."""
        client = m["client"]
        worker = self.workers.get(client)
        if worker is None:
            worker = Worker(self)
            self.workers[client] = worker
        worker.queue.put((m, time.monotonic() + self.timeout))

    def leader(self, m):
        """The node of `nodes` that is not in recovery."""
        deadline = time.monotonic() + 4
        found, errors = [], []
        for node in m["nodes"]:
            try:
                host, port = self.endpoint(node)
            except KeyError:
                continue
            try:
                conn = self.connect(host, port, deadline, session=False)
                try:
                    cur = conn.cursor()
                    cur.execute("SELECT pg_is_in_recovery()")
                    if not cur.fetchone()[0]:
                        found.append(node)
                finally:
                    conn.close()
            except Exception as e:
                errors.append("%s: %s" % (node, describe(e)))
        if len(found) == 1:
            send({"id": m["id"], "type": "ok", "value": found[0]})
        else:
            why = "%d primaries among %s" % (len(found), ", ".join(m["nodes"]))
            if errors:
                why += " (%s)" % "; ".join(errors)
            send({"id": m["id"], "type": "fail", "error": why})


class Worker:
    """One client's thread: its ops in order, a connection per node."""

    def __init__(self, adapter):
        self.adapter = adapter
        self.queue = queue.Queue()
        self.conns = {}  # node -> (host, port, connection)
        threading.Thread(target=self.loop, daemon=True).start()

    def loop(self):
        while True:
            m, deadline = self.queue.get()
            try:
                reply = self.run(m, deadline)
            except Exception as e:  # a bug here: say info, never guess fail
                log("unexpected error: %r" % e)
                reply = {"type": "info", "error": "adapter error: %s" % e}
            reply["id"] = m["id"]
            send(reply)

    def conn(self, node, deadline):
        host, port = self.adapter.endpoint(node)
        held = self.conns.get(node)
        if held and (held[0], held[1]) == (host, port) and not held[2].closed:
            return held[2]
        if held:
            self.drop(node)
        c = self.adapter.connect(host, port, deadline)
        self.conns[node] = (host, port, c)
        return c

    def drop(self, node):
        held = self.conns.pop(node, None)
        if held:
            try:
                held[2].close()
            except Exception:
                pass

    def run(self, m, deadline):
        workload, op, key, value = m["workload"], m["op"], m.get("key"), m["value"]
        read_only = (op == "read") or (
            workload == "list-append" and all(f == "r" for f, _, _ in value)
        )
        if time.monotonic() >= deadline:
            # Never sent to the database: it waited here past its time.
            return {"type": "fail", "error": "not sent: timed out in the adapter's queue"}
        node = m["node"]
        stage = [CONNECT]
        try:
            c = self.conn(node, deadline)
            DEADLINE.at = deadline
            result = self.op(c, workload, op, key, value, stage)
            return {"type": "ok", "value": result}
        except Refused as e:
            return {"type": "fail", "error": str(e)}
        except Exception as e:
            kept = False
            if answered(e) and node in self.conns:
                # The server answered: end any transaction, keep the session.
                try:
                    DEADLINE.at = time.monotonic() + 1
                    self.conns[node][2].cursor().execute("ROLLBACK")
                    kept = True
                except Exception:
                    pass
            if not kept:
                self.drop(node)
            return {"type": classify(read_only, stage[0], e), "error": describe(e)}
        finally:
            DEADLINE.at = None

    def op(self, c, workload, op, key, value, stage):
        a = self.adapter
        cur = c.cursor()
        level = a.level

        def commits():
            stage[0] = COMMIT

        if workload == "register":
            k = "%sk%d" % (a.prefix, key)
            commits()  # one statement, its own transaction
            if op == "read":
                cur.execute("SELECT v FROM adapter_register WHERE k = %s", (k,))
                row = cur.fetchone()
                return None if row is None else row[0]
            if op == "write":
                cur.execute(
                    "INSERT INTO adapter_register (k, v) VALUES (%s, %s) "
                    "ON CONFLICT (k) DO UPDATE SET v = excluded.v",
                    (k, value),
                )
                return None
            if op == "cas":
                expected, new = value
                cur.execute(
                    "UPDATE adapter_register SET v = %s WHERE k = %s AND v = %s",
                    (new, k, expected),
                )
                if cur.rowcount == 0:
                    raise Refused("compare failed: the register did not hold %d" % expected)
                return None
        if workload == "list-append" and op == "txn":
            stage[0] = BODY
            cur.execute("BEGIN ISOLATION LEVEL " + level)
            out = []
            for f, k, v in value:
                lk = "%sk%d" % (a.prefix, k)
                if f == "append":
                    cur.execute(
                        "INSERT INTO adapter_list AS l (k, v) VALUES (%s, ARRAY[%s::bigint]) "
                        "ON CONFLICT (k) DO UPDATE SET v = l.v || excluded.v",
                        (lk, v),
                    )
                    out.append([f, k, v])
                else:
                    cur.execute("SELECT v FROM adapter_list WHERE k = %s", (lk,))
                    row = cur.fetchone()
                    out.append([f, k, [] if row is None else list(row[0])])
            commits()
            cur.execute("COMMIT")
            return out
        if workload == "bank":
            acct = lambda i: "%sa%d" % (a.prefix, i)
            if op == "setup":
                stage[0] = BODY
                cur.execute("BEGIN ISOLATION LEVEL " + level)
                for i, b in enumerate(value["balances"]):
                    cur.execute(
                        "INSERT INTO adapter_bank (k, b) VALUES (%s, %s) ON CONFLICT (k) DO NOTHING",
                        (acct(i), b),
                    )
                commits()
                cur.execute("COMMIT")
                return None
            if op == "read":
                n = value["accounts"]
                names = [acct(i) for i in range(n)]
                if value.get("each"):
                    got = {}
                    for name in names:
                        cur.execute("SELECT k, b FROM adapter_bank WHERE k = %s", (name,))
                        got.update(dict(cur.fetchall()))
                else:
                    cur.execute("BEGIN ISOLATION LEVEL " + level)
                    cur.execute("SELECT k, b FROM adapter_bank WHERE k = ANY(%s)", (names,))
                    got = dict(cur.fetchall())
                    cur.execute("COMMIT")
                return [got.get(name) for name in names]
            if op == "transfer":
                src, dst, amount = acct(value["from"]), acct(value["to"]), value["amount"]
                refuse = value.get("refuse_negative", True)
                stage[0] = BODY
                cur.execute("BEGIN ISOLATION LEVEL " + level)
                if value.get("unguarded"):
                    # The lost-update control: read, compute here, write.
                    cur.execute("SELECT k, b FROM adapter_bank WHERE k IN (%s, %s)", (src, dst))
                    got = dict(cur.fetchall())
                    if src not in got or dst not in got:
                        raise_refused(cur, "account %s or %s does not exist" % (src, dst))
                    if refuse and got[src] < amount:
                        raise_refused(cur, "refused: the source holds %d" % got[src])
                    cur.execute("UPDATE adapter_bank SET b = %s WHERE k = %s", (got[src] - amount, src))
                    cur.execute("UPDATE adapter_bank SET b = %s WHERE k = %s", (got[dst] + amount, dst))
                else:
                    guard = " AND b >= %s" if refuse else ""
                    args = (amount, src, amount) if refuse else (amount, src)
                    cur.execute("UPDATE adapter_bank SET b = b - %s WHERE k = %s" + guard, args)
                    if cur.rowcount == 0:
                        raise_refused(cur, "refused: the source holds less than %d (or is absent)" % amount)
                    cur.execute("UPDATE adapter_bank SET b = b + %s WHERE k = %s", (amount, dst))
                    if cur.rowcount == 0:
                        raise_refused(cur, "refused: no account %s" % dst)
                commits()
                cur.execute("COMMIT")
                return None
        if workload == "set":
            commits()
            if op == "add":
                cur.execute("INSERT INTO adapter_set (r, e) VALUES (%s, %s)", (a.prefix, value))
                return None
            if op == "read":
                cur.execute("SELECT e FROM adapter_set WHERE r = %s", (a.prefix,))
                return sorted(r[0] for r in cur.fetchall())
        raise Refused("unknown op %s of %s" % (op, workload))


def raise_refused(cur, why):
    """Roll the open transaction back (nothing was committed), then refuse."""
    cur.execute("ROLLBACK")
    raise Refused(why)


def main():
    send({"type": "hello", "protocol": 1, "name": "postgres-psycopg2", "serves": SERVES, "leader": True})
    adapter = Adapter()
    for line in sys.stdin:
        if not line.strip():
            continue
        m = json.loads(line)
        t = m.get("type")
        if t == "init":
            try:
                adapter.init(m)
                send({"id": m["id"], "type": "ok"})
            except Exception as e:
                log("init failed: %s" % describe(e))
                send({"id": m["id"], "type": "fail", "error": describe(e)})
        elif t == "endpoints":
            adapter.set_endpoints(m["endpoints"])
            log("endpoints now %s" % json.dumps(m["endpoints"]))
        elif t == "leader":
            threading.Thread(target=adapter.leader, args=(m,), daemon=True).start()
        elif t == "invoke":
            adapter.submit(m)
        else:
            log("ignoring a message of type %s" % t)


if __name__ == "__main__":
    main()
