#!/usr/bin/python3
"""The hand checks of docs/images.md ("PostgreSQL"), against a running
compose/postgres.yml project (primary on 127.0.0.1:$CHAOS_PG_PRIMARY_PORT,
default 25432, replica on $CHAOS_PG_REPLICA_PORT, default 25433; user,
password and database chaos). Faults are applied by hand beside it (the
docs give the docker commands).

  pg-checks.py lag [N]           commit N rows on the primary (default 100), poll
                                 the replica until each is visible: the lag
  pg-checks.py skew              write skew under serializable, repeatable read,
                                 read committed; a lost update under repeatable read
  pg-checks.py writer SECS TABLE insert k = 1, 2, ... on the primary every 5 ms,
                                 reconnecting on errors; print each change of
                                 outcome; then check every acknowledged row on
                                 both nodes (kill or stop the primary meanwhile)
  pg-checks.py conn idle|busy    one connection; what it sees when the server
                                 goes away between statements (idle: fault
                                 within 3 s) or during pg_sleep(5) (busy)
  pg-checks.py part SECS         write on the primary every 100 ms, read max(k)
                                 on the replica after each write; one line a
                                 second (apply a partition meanwhile)
  pg-checks.py conflict          a recovery conflict: replica reads stall for
                                 max_standby_streaming_delay, then the replica
                                 ends the conflicting transaction

Needs Debian's python3-psycopg2 and /usr/bin/python3 (not a pyenv python).
"""
import datetime
import os
import statistics
import sys
import time

import psycopg2

PRIMARY = int(os.environ.get("CHAOS_PG_PRIMARY_PORT", "25432"))
REPLICA = int(os.environ.get("CHAOS_PG_REPLICA_PORT", "25433"))


def connect(port, autocommit=True, **kw):
    c = psycopg2.connect(host="127.0.0.1", port=port, user="chaos", password="chaos",
                         dbname="chaos", **kw)
    c.autocommit = autocommit
    return c


def stamp():
    return f"{datetime.datetime.now():%H:%M:%S.%f}"[:-3]


def wait_for_table(cur, table):
    """DDL reaches the replica asynchronously too."""
    while True:
        cur.execute("select to_regclass(%s) is not null", (table,))
        if cur.fetchone()[0]:
            return
        time.sleep(0.01)


def lag(n=100):
    p, r = connect(PRIMARY), connect(REPLICA)
    pc, rc = p.cursor(), r.cursor()
    pc.execute("create table if not exists lag (k int primary key, t timestamptz default now())")
    pc.execute("select coalesce(max(k), 0) from lag")
    base = pc.fetchone()[0]
    wait_for_table(rc, "lag")
    lags, polls = [], []
    for i in range(base + 1, base + 1 + n):
        pc.execute("insert into lag (k) values (%s)", (i,))
        t0, k = time.monotonic(), 0
        while True:
            k += 1
            rc.execute("select 1 from lag where k = %s", (i,))
            if rc.fetchone():
                break
        lags.append((time.monotonic() - t0) * 1000)
        polls.append(k)
    lags.sort()
    print(f"{n} writes: visible on the replica after min {lags[0]:.2f} ms, "
          f"median {statistics.median(lags):.2f} ms, p90 {lags[int(n * 0.9) - 1]:.2f} ms, "
          f"max {lags[-1]:.2f} ms; first poll already saw it in "
          f"{sum(1 for k in polls if k == 1)} of {n}")


def skew():
    a, b = connect(PRIMARY, False), connect(PRIMARY, False)
    s = connect(PRIMARY)
    s.cursor().execute("drop table if exists ws; create table ws (k int primary key, v int);"
                       " insert into ws values (1, 0), (2, 0)")
    for level in ("serializable", "repeatable read", "read committed"):
        s.cursor().execute("update ws set v = 0")
        for c in (a, b):
            c.cursor().execute(f"set transaction isolation level {level}")
        ca, cb = a.cursor(), b.cursor()
        ca.execute("select sum(v) from ws")
        cb.execute("select sum(v) from ws")
        ca.execute("update ws set v = v + 1 where k = 1")
        cb.execute("update ws set v = v + 1 where k = 2")
        out = []
        for name, c in (("A", a), ("B", b)):
            try:
                c.commit()
                out.append(f"{name} committed")
            except psycopg2.Error as e:
                out.append(f"{name}: {e.pgcode} {e.pgerror.splitlines()[0]} | "
                           f"{e.diag.message_detail or ''}")
                c.rollback()
        print(f"write skew, {level}: " + "; ".join(out))
    s.cursor().execute("update ws set v = 0")
    for c in (a, b):
        c.cursor().execute("set transaction isolation level repeatable read")
    ca, cb = a.cursor(), b.cursor()
    ca.execute("select v from ws where k = 1")
    cb.execute("select v from ws where k = 1")
    ca.execute("update ws set v = v + 1 where k = 1")
    a.commit()
    try:
        cb.execute("update ws set v = v + 1 where k = 1")
        b.commit()
        print("same row, repeatable read, second updater: committed")
    except psycopg2.Error as e:
        print(f"same row, repeatable read, second updater: {e.pgcode} {e.pgerror.splitlines()[0]}")
        b.rollback()


def writer(dur, table):
    t0 = time.monotonic()

    def ts():
        return f"{time.monotonic() - t0:7.3f}s"

    def conn(port):
        c = connect(port, connect_timeout=1)
        c.cursor().execute("set statement_timeout = 1000")
        return c

    c = conn(PRIMARY)
    c.cursor().execute(f"drop table if exists {table}; create table {table} (k int primary key)")
    acked, k, last = set(), 0, None
    while time.monotonic() - t0 < dur:
        k += 1
        try:
            if c is None:
                c = conn(PRIMARY)
            c.cursor().execute(f"insert into {table} values (%s)", (k,))
            acked.add(k)
            state = "ok"
        except psycopg2.Error as e:
            text = str(e).strip()
            state = f"{type(e).__name__} pgcode={e.pgcode} {text.splitlines()[0] if text else repr(e)}"
            if c is not None:
                try:
                    c.close()
                except Exception:
                    pass
            c = None
            time.sleep(0.1)
        if state != last:
            print(f"{ts()} k={k} {state}", flush=True)
            last = state
        time.sleep(0.005)
    print(f"{ts()} {len(acked)} acknowledged writes of {k} attempts")
    for name, port in (("primary", PRIMARY), ("replica", REPLICA)):
        have = set()
        for _ in range(100):
            try:
                cur = conn(port).cursor()
                cur.execute(f"select k from {table}")
                have = {row[0] for row in cur.fetchall()}
                if name == "primary" or acked <= have:
                    break
            except psycopg2.Error:
                pass
            time.sleep(0.1)
        print(f"{name}: {len(have)} rows; acknowledged but missing: {len(acked - have)}; "
              f"present but not acknowledged: {sorted(have - acked)}")


def conn_loss(mode):
    c = connect(PRIMARY)
    cur = c.cursor()
    print("connected", flush=True)
    if mode == "idle":
        time.sleep(3)  # the fault happens now
        q = "select 1"
    else:
        q = "select pg_sleep(5)"  # the fault happens during it
    t = time.monotonic()
    try:
        cur.execute(q)
        print("ok")
    except psycopg2.Error as e:
        print(f"after {time.monotonic() - t:.3f}s: {type(e).__module__}.{type(e).__name__} "
              f"pgcode={e.pgcode!r} message={str(e)!r}")
    print("closed:", c.closed)


def part(dur):
    p, r = connect(PRIMARY, connect_timeout=1), connect(REPLICA, connect_timeout=1)
    p.cursor().execute("drop table if exists part; create table part (k int primary key)")
    wait_for_table(r.cursor(), "part")
    # An older "part" may still be on the replica: wait until it is the new, empty one.
    while True:
        cur = r.cursor()
        cur.execute("select count(*) from part")
        if cur.fetchone()[0] == 0:
            break
        time.sleep(0.01)
    t0 = time.monotonic()
    acked_at = {0: t0}
    k, last_print, caught_up, behind_since = 0, -1, None, None
    while time.monotonic() - t0 < dur:
        k += 1
        p.cursor().execute("insert into part values (%s)", (k,))
        acked_at[k] = time.monotonic()
        cur = r.cursor()
        cur.execute("select coalesce(max(k), 0) from part")
        seen = cur.fetchone()[0]
        now = time.monotonic()
        stale = now - acked_at[seen]
        if seen < k - 5 and behind_since is None:
            behind_since = now
        if behind_since is not None and seen >= k - 1 and caught_up is None and now - behind_since > 1:
            caught_up = now
            print(f"{stamp()} {now - t0:6.2f}s replica caught up (k={k}, replica {seen})", flush=True)
        if int(now - t0) != last_print:
            last_print = int(now - t0)
            c2 = r.cursor()
            c2.execute("select coalesce((select status from pg_stat_wal_receiver), 'none'),"
                       " pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn()")
            st, rlsn, _ = c2.fetchone()
            c3 = p.cursor()
            c3.execute("select pg_current_wal_lsn(), coalesce((select state || ' sent ' || sent_lsn"
                       " || ' replay ' || replay_lsn from pg_stat_replication), 'no walsender')")
            cl, ws = c3.fetchone()
            print(f"{stamp()} {now - t0:6.2f}s primary k={k} replica reads {seen} "
                  f"(stale by {stale * 1000:.0f} ms) | replica receiver {st}, received {rlsn} | "
                  f"primary at {cl}, walsender {ws}", flush=True)
        time.sleep(0.1)


def conflict():
    p, r, r2 = connect(PRIMARY), connect(REPLICA, False), connect(REPLICA)
    p.cursor().execute("drop table if exists c; create table c (k int primary key);"
                       " insert into c select generate_series(1, 1000)")
    wait_for_table(r2.cursor(), "c")
    time.sleep(1)
    cur = r.cursor()
    cur.execute("set transaction isolation level repeatable read")
    cur.execute("select count(*) from c")
    print(stamp(), "replica RR txn sees", cur.fetchone()[0])
    p.cursor().execute("delete from c")
    p.cursor().execute("vacuum c")
    p.cursor().execute("insert into c values (-1)")
    t0 = time.monotonic()
    print(stamp(), "primary: deleted, vacuumed, inserted -1")
    while True:
        c2 = r2.cursor()
        c2.execute("select count(*) from c where k = -1")
        if c2.fetchone()[0]:
            print(stamp(), f"new replica reads see -1 after {time.monotonic() - t0:.1f} s")
            break
        time.sleep(0.5)
    try:
        cur.execute("select count(*) from c")
        print(stamp(), "RR txn still reads", cur.fetchone()[0])
    except psycopg2.Error as e:
        print(stamp(), f"RR txn: {type(e).__name__} pgcode={e.pgcode} {str(e).strip()!r}")


def main(argv):
    if len(argv) < 2:
        sys.exit(__doc__)
    cmd, args = argv[1], argv[2:]
    if cmd == "lag":
        lag(int(args[0]) if args else 100)
    elif cmd == "skew":
        skew()
    elif cmd == "writer" and len(args) == 2:
        writer(float(args[0]), args[1])
    elif cmd == "conn" and args and args[0] in ("idle", "busy"):
        conn_loss(args[0])
    elif cmd == "part" and len(args) == 1:
        part(float(args[0]))
    elif cmd == "conflict":
        conflict()
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
