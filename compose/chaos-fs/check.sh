#!/usr/bin/env bash
# compose/chaos-fs/check.sh: chaos-fs in a container, by hand, end to end
# (docs/images.md, "Disk and clock faults in the images"). Each check
# prints what it saw; exit 0 only if all hold:
#   power-loss: write through chaos-fs, fsync part, freeze, docker kill,
#     start again: exactly the synced part is there (and a torn freeze
#     keeps a prefix of the last unsynced write);
#   errors: EIO and ENOSPC seen from inside the container, and gone after
#     `chaos-fs ctl clear`; an fsync delayed by io-delay;
#   a clean stop flushes; strict mode keeps only what a directory fsync
#     made durable.
# Uses the local etcd image (any image with chaos-fs and chaos-entrypoint
# does) with `sleep infinity` as the "database"; container and volume are
# named chaosfs-check-<pid> and removed at the end.
#
#   bash compose/chaos-fs/check.sh [IMAGE]      (default chaos/etcd:3.4-local)
set -euo pipefail
IMAGE="${1:-chaos/etcd:3.4-local}"
NAME="chaosfs-check-$$"
fails=0
say()  { printf '[check] %s\n' "$*"; }
pass() { printf '[check] PASS %s\n' "$*"; }
fail() { printf '[check] FAIL %s\n' "$*"; fails=$((fails + 1)); }
cleanup() { docker rm -f "$NAME" >/dev/null 2>&1 || true; docker volume rm -f "$NAME" >/dev/null 2>&1 || true; }
trap cleanup EXIT

ex() { docker exec "$NAME" "$@"; }
ctl() { docker exec "$NAME" chaos-fs ctl "$@"; }
wait_serving() {
  for _ in $(seq 100); do
    ctl status >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  docker logs "$NAME" >&2; return 1
}

say "container $NAME from $IMAGE, /data on volume $NAME under chaos-fs (lazy)"
docker run -d --name "$NAME" --network none \
  --device /dev/fuse --cap-add SYS_ADMIN --security-opt apparmor:unconfined \
  -e CHAOS_FS=lazy -v "$NAME:/data" \
  --entrypoint /usr/local/bin/chaos-entrypoint "$IMAGE" sleep infinity >/dev/null
wait_serving

# --- power loss: the synced part survives, nothing else -------------------
ex sh -c 'printf synced- | dd of=/data/f conv=fsync status=none'           # write + fsync
ex sh -c 'printf unsynced | dd of=/data/f bs=1 seek=7 conv=notrunc status=none'  # write, no fsync
ex sh -c 'printf new | dd of=/data/g status=none'                           # new file, no fsync
before="$(ex cat /data/f)"; say "before the crash, readers see f='$before' g='$(ex cat /data/g)'"
say "status: $(ctl status)"
say "freeze: $(ctl freeze)"
docker kill "$NAME" >/dev/null
docker start "$NAME" >/dev/null
wait_serving
after="$(ex cat /data/f)"; g="$(ex cat /data/g)"
say "after power loss and restart: f='$after' g='$g' (g exists: created durably, its data was not synced)"
[ "$before" = "synced-unsynced" ] && [ "$after" = "synced-" ] && [ -z "$g" ] \
  && pass "power loss kept exactly the fsynced bytes" || fail "power loss: f='$after' g='$g'"

# --- torn: a prefix of the last unsynced write survives ------------------
# One write(2) of 4096 bytes (dd bs=4096): the last unsynced write.
ex sh -c 'head -c 4096 /dev/zero | tr "\0" T | dd of=/data/t bs=4096 count=1 status=none'
t="$(ctl freeze --torn --seed 7)"; say "freeze --torn: $t"
docker kill "$NAME" >/dev/null; docker start "$NAME" >/dev/null; wait_serving
n="$(ex sh -c 'tr -cd T < /data/t | wc -c')"; size="$(ex stat -c %s /data/t)"
want="$(printf '%s' "$t" | sed -n 's/.*"written":\([0-9]*\).*/\1/p')"
say "after the torn crash: /data/t holds $n T's in $size bytes (freeze said written=$want)"
[ -n "$want" ] && [ "$n" = "$want" ] && [ "$size" = "$want" ] && [ "$n" -gt 0 ] && [ "$n" -lt 4096 ] \
  && pass "a torn prefix ($n of 4096 bytes) survived, nothing after it" || fail "torn: $n bytes, freeze said $want"

# --- EIO and ENOSPC from inside, gone after clear -------------------------
say "io-error: $(ctl io-error --share 1 --ops read --path f --seed 1)"
if out="$(ex cat /data/f 2>&1)"; then fail "read of f under io-error succeeded: $out"; else say "cat /data/f: $out"; fi
ex cat /data/g >/dev/null && pass "a path outside the glob reads fine" || fail "g failed under a glob for f"
say "disk-full: $(ctl disk-full)"
if out="$(ex sh -c 'echo x > /data/h' 2>&1)"; then fail "create under disk-full succeeded"; else say "echo x > /data/h: $out"; fi
enospc="$out"
if out="$(ex sh -c 'printf more | dd of=/data/g conv=notrunc oflag=append status=none' 2>&1)"; then fail "write under disk-full succeeded"; else say "append to /data/g: $out"; fi
enospc="$enospc $out"
say "df: $(ex df -P /data | tail -n 1)"
st="$(ctl status)"; say "status: $st"
case "$enospc" in *"No space left"*"No space left"*) pass "ENOSPC seen inside on a create and a write";; *) fail "ENOSPC not seen: $enospc";; esac
say "clear: $(ctl clear)"
ex cat /data/f >/dev/null && ex sh -c 'echo x > /data/h && echo more >> /data/g' \
  && pass "after clear: reads, creates and writes work again" || fail "faults still act after clear"
say "io-delay: $(ctl io-delay --delay 400ms --jitter 100ms --ops fsync --seed 3)"
ms="$(ex sh -c 't0=$(date +%s%N); printf x | dd of=/data/g conv=fsync,notrunc status=none 2>/dev/null; echo $(( ($(date +%s%N) - t0) / 1000000 ))')"
say "a write with fsync under io-delay took ${ms} ms; $(ctl status | sed -n 's/.*"io_delay":\({[^}]*}\).*/io_delay \1/p')"
[ "$ms" -ge 400 ] && pass "io-delay: the fsync waited (${ms} ms >= 400 ms)" || fail "io-delay: ${ms} ms"
ctl clear >/dev/null

# --- a clean stop writes everything through -------------------------------
ex sh -c 'printf kept | dd of=/data/s status=none'
docker stop -t 10 "$NAME" >/dev/null
say "logs at stop: $(docker logs "$NAME" 2>&1 | grep 'clean shutdown' | tail -n 1)"
docker start "$NAME" >/dev/null; wait_serving
[ "$(ex cat /data/s)" = kept ] && pass "docker stop (SIGTERM) flushed unsynced data, as an OS would" || fail "stop lost data"

# --- strict mode: a new name is durable only after its directory's fsync --
docker rm -f "$NAME" >/dev/null
say "the same volume under chaos-fs in strict mode"
docker run -d --name "$NAME" --network none \
  --device /dev/fuse --cap-add SYS_ADMIN --security-opt apparmor:unconfined \
  -e CHAOS_FS=strict -v "$NAME:/data" \
  --entrypoint /usr/local/bin/chaos-entrypoint "$IMAGE" sleep infinity >/dev/null
wait_serving
# (a directory fsync makes every earlier entry durable too, so the entries
# meant to be lost come after it)
ex sh -c 'printf two | dd of=/data/n2 conv=fsync status=none && sync /data'   # file and directory fsynced
ex sh -c 'printf one | dd of=/data/n1 conv=fsync status=none'                 # file fsynced, directory not
ex rm /data/f                                                                  # unlink, directory not fsynced
say "status: $(ctl status | sed -n 's/.*"pending":\({[^}]*}\).*/pending \1/p')"
ctl freeze >/dev/null; docker kill "$NAME" >/dev/null; docker start "$NAME" >/dev/null; wait_serving
seen="$(ex sh -c 'ls /data | tr "\n" " "')"; say "after power loss: ls /data: $seen; n2='$(ex cat /data/n2 2>&1)'"
case " $seen " in
  *" n1 "*) fail "strict: n1 survived without a directory fsync";;
  *" n2 "*" f "*|*" f "*" n2 "*) [ "$(ex cat /data/n2)" = two ] && pass "strict: only the entries made durable by sync /data survived (n2; f's unlink was undone, n1 lost)" || fail "strict: n2 content";;
  *) fail "strict: n2 or f missing: $seen";;
esac

[ "$fails" = 0 ] && say "all checks passed" || say "$fails check(s) failed"
exit "$fails"
