#!/bin/bash
# tests/mounted/fio_verify.sh - fio with O_DIRECT random read/write and crc32c
# verification on a mounted sgfuse-passthrough. Usage: fio_verify.sh DAEMON.
# $SGF_TEST_OPTS adds daemon options: with io_uring in it, the kernel's
# enable_uring is switched on for the run (and back), and requests must have
# come through the ring; with passthrough, no READ or WRITE may reach the
# daemon. With $SGF_TEST_CEPH (scripts/ceph-cluster) the daemon is
# sgfuse-ceph on a throw-away cluster started here (conf= for SOURCE).
# Runs in a private mount namespace; everything is torn down on any exit.
set -u
daemon=${1:-${SGF_DAEMON:-}}
if [ "$(id -u)" != 0 ] || [ ! -c /dev/fuse ]; then echo "SKIP: needs root and /dev/fuse"; exit 77; fi
if ! command -v fio >/dev/null; then echo "SKIP: fio not installed"; exit 77; fi
if [ -z "$daemon" ] || [ ! -x "$daemon" ]; then echo "daemon not given: $daemon" >&2; exit 1; fi
# Re-run ourselves in a private mount namespace so nothing can leak.
if [ -z "${SGF_FIO_UNSHARED:-}" ] && command -v unshare >/dev/null; then
	SGF_FIO_UNSHARED=1 exec unshare --mount --propagation private "$0" "$daemon"
fi

opts=${SGF_TEST_OPTS:-}
uring_param=/sys/module/fuse/parameters/enable_uring
uring_saved=
case ",$opts," in *,io_uring,*)
	[ -w "$uring_param" ] || { echo "SKIP: no FUSE over io_uring in this kernel"; exit 77; }
	uring_saved=$(cat "$uring_param") ;;
esac
root=$(mktemp -d /tmp/sgfuse-fio-XXXXXX)
pid=
ceph=${SGF_TEST_CEPH:-}
ceph_started=
cleanup() {
	umount -l "$root/mnt" 2>/dev/null
	[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	[ -z "$ceph_started" ] || "$ceph" stop "$root/ceph" >/dev/null
	umount -l "$root" 2>/dev/null
	rm -rf "$root"
	[ -z "$uring_saved" ] || echo "$uring_saved" >"$uring_param"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP
mount -t tmpfs -o size=256m sgfuse-fio "$root" || true
mkdir -p "$root/backing" "$root/mnt"

[ -z "$uring_saved" ] || echo Y >"$uring_param"
source_args=("$root/backing")
if [ -n "$ceph" ]; then
	ceph_started=1 # stop is safe on a half-started cluster
	"$ceph" start "$root/ceph" >"$root/ceph-start.log" 2>&1
	rc=$?
	[ $rc -eq 77 ] && { ceph_started=; echo "SKIP: Ceph is not installed"; exit 77; }
	[ $rc -eq 0 ] || { cat "$root/ceph-start.log" >&2; exit 1; }
	opts="conf=$root/ceph/ceph.conf${opts:+,$opts}"
	source_args=()
fi
"$daemon" -f -o "stats_file=$root/stats.txt${opts:+,$opts}" "${source_args[@]}" "$root/mnt" &
pid=$!
for _ in $(seq 200); do
	grep -q " $root/mnt fuse" /proc/self/mounts && break
	kill -0 "$pid" 2>/dev/null || { echo "daemon exited before mounting" >&2; exit 1; }
	sleep 0.05
done
grep -q " $root/mnt fuse" /proc/self/mounts || { echo "mount did not appear" >&2; exit 1; }

status=0
engines="psync pvsync2"
fio --enghelp 2>/dev/null | grep -qw libaio && engines="$engines libaio"
cd "$root" || exit 1
for engine in $engines; do
	fio --name="verify-$engine" --directory="$root/mnt" --size=8m --direct=1 \
	    --rw=randrw --bsrange=4k-128k --ioengine="$engine" --iodepth=16 --numjobs=2 \
	    --verify=crc32c --verify_fatal=1 --do_verify=1 --randrepeat=0 \
	    --verify_state_save=0 \
	    >"$root/fio-$engine.out" 2>&1
	rc=$?
	grep -E '^ +(READ|WRITE):' "$root/fio-$engine.out" | sed "s/^ */$engine: /"
	if [ $rc -ne 0 ]; then
		echo "FAIL: fio ($engine) exited $rc" >&2
		cat "$root/fio-$engine.out" >&2
		status=1
	fi
done

kill -TERM "$pid"
wait "$pid"
rc=$?
pid=
if [ $rc -ne 0 ]; then echo "FAIL: daemon exit status $rc after SIGTERM" >&2; status=1; fi
if grep -q " $root/mnt " /proc/self/mounts; then echo "FAIL: still mounted" >&2; status=1; fi
if [ -n "$uring_saved" ]; then
	ring=$(awk '$1 == "uring" {print $2}' "$root/stats.txt")
	echo "requests through the ring: ${ring:-0}"
	[ "${ring:-0}" -gt 0 ] || { echo "FAIL: io_uring asked for, no request came through a ring" >&2; status=1; }
fi
# Passed through, fio's data never reaches the daemon.
case ",${SGF_TEST_OPTS:-}," in *,passthrough,*)
	if ! grep -q '^passthrough ' "$root/stats.txt"; then
		echo "SKIP: the kernel did not take passthrough"; exit 77
	fi
	if grep -Eq '^op (READ|WRITE) ' "$root/stats.txt"; then
		echo "FAIL: READ/WRITE reached the daemon under passthrough" >&2
		cat "$root/stats.txt" >&2
		status=1
	fi;;
esac
[ $status -eq 0 ] && echo PASSED
exit $status
