# bench/common.sh - shared by bench/seed-table and bench/sweep: build, a
# private tmpfs work area, starting and stopping FUSE daemons, and a cleanup
# that always unmounts whatever was mounted (and stops the Ceph cluster
# bench/ceph-rows.sh starts). Source it; do not run it.

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${SGF_BUILD:-$ROOT/build}
DAEMON=$BUILD/tools/sgfuse-passthrough
BENCH=$BUILD/tools/sgfuse-bench
PIDS=()
MOUNTS=()
URING_PARAM=/sys/module/fuse/parameters/enable_uring
URING_SAVED=
CEPH_DIR=   # a cluster of scripts/ceph-cluster, stopped by the cleanup

sgf_build() {
  "$ROOT/scripts/deps" || exit 1
  if [ ! -f "$BUILD/build.ninja" ]; then
    meson setup "$BUILD" "$ROOT" >/dev/null || exit 1
  fi
  local targets=(tools/sgfuse-passthrough tools/sgfuse-bench)
  # sgfuse-ceph exists only where libcephfs was found.
  if ninja -C "$BUILD" -t targets all 2>/dev/null | grep -q '^tools/sgfuse-ceph:'; then
    targets+=(tools/sgfuse-ceph)
  fi
  ninja -C "$BUILD" "${targets[@]}" >/dev/null || { ninja -C "$BUILD" "${targets[@]}"; exit 1; }
}

sgf_cleanup() {
  local p m
  set +e  # every step must run, whatever failed before
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
  sleep 0.2
  for m in "${MOUNTS[@]}"; do
    if grep -q " $m " /proc/mounts; then umount "$m" 2>/dev/null || umount -l "$m"; fi
  done
  for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null; done
  [ -z "$URING_SAVED" ] || echo "$URING_SAVED" >"$URING_PARAM"
  # After the daemons above (its clients) are gone; it also unmounts its
  # ceph-fuse mounts and kills their ceph-fuse.
  if [ -n "$CEPH_DIR" ]; then
    "$ROOT/scripts/ceph-cluster" stop "$CEPH_DIR" >/dev/null ||
      echo "bench: the Ceph cluster in $CEPH_DIR may not be stopped: pgrep -a ceph" >&2
  fi
  if [ -n "${WORK:-}" ]; then
    if grep -q " $WORK/backing " /proc/mounts; then umount -l "$WORK/backing"; fi
    rm -rf "$WORK"
  fi
}

# A work area whose backing directory is a tmpfs of its own, as in the seed.
sgf_workdir() {
  WORK=$(mktemp -d /tmp/sgfuse-bench.XXXXXX)
  trap sgf_cleanup EXIT
  trap 'exit 130' INT TERM HUP
  mkdir -p "$WORK/backing" "$WORK/mnt" "$WORK/mnt-peer"
  mount -t tmpfs -o size=8g sgfuse-bench "$WORK/backing"
  MOUNTS+=("$WORK/backing")
}

# Switch FUSE over io_uring on for the mounts that follow (the cleanup puts
# the kernel's setting back). Fails on a kernel without it.
sgf_uring_on() {
  [ -w "$URING_PARAM" ] || return 1
  [ -n "$URING_SAVED" ] || URING_SAVED=$(cat "$URING_PARAM")
  echo Y >"$URING_PARAM"
}

# wait_mount DIR PID: until DIR is a FUSE mount (or the daemon died).
sgf_wait_mount() {
  local i
  for i in $(seq 1 200); do
    if awk -v m="$1" '$2 == m && $3 ~ /^fuse/ {f=1} END {exit !f}' /proc/mounts; then return 0; fi
    kill -0 "$2" 2>/dev/null || { echo "daemon for $1 exited" >&2; return 1; }
    sleep 0.05
  done
  echo "timed out waiting for $1 to mount" >&2
  return 1
}

# stop_daemon PID MOUNT: SIGTERM, wait, make sure the mount is gone.
sgf_stop_daemon() {
  kill -TERM "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
  if [ -n "${2:-}" ] && grep -q " $2 " /proc/mounts; then umount -l "$2"; fi
}

# Build libfuse's passthrough_ll example as shipped in libfuse3-dev.
sgf_build_peer() {
  local src=/usr/share/doc/libfuse3-dev/examples/passthrough_ll.c
  [ -f "$src" ] || return 1
  cc -O2 -Wall -I/usr/share/doc/libfuse3-dev/examples "$src" \
     $(pkg-config --cflags --libs fuse3) -o "$WORK/passthrough_ll" 2>"$WORK/peer-build.log"
}

# Start sgfuse-passthrough on $WORK/mnt with -o OPTIONS; sets DPID.
sgf_start_kernel() {
  "$DAEMON" -f -o "$1,stats_file=$WORK/stats" "$WORK/backing" "$WORK/mnt" \
    2>"$WORK/daemon.log" &
  DPID=$!
  PIDS+=("$DPID"); MOUNTS+=("$WORK/mnt")
  sgf_wait_mount "$WORK/mnt" "$DPID" || { cat "$WORK/daemon.log" >&2; return 1; }
}

# Start libfuse's passthrough_ll on $WORK/mnt-peer; sets DPID. Fails when
# the example cannot be built or mounted.
sgf_start_peer() {
  [ -x "$WORK/passthrough_ll" ] || sgf_build_peer || return 1
  "$WORK/passthrough_ll" -f -o "source=$WORK/backing" "$WORK/mnt-peer" 2>"$WORK/peer.log" &
  DPID=$!
  PIDS+=("$DPID"); MOUNTS+=("$WORK/mnt-peer")
  sgf_wait_mount "$WORK/mnt-peer" "$DPID"
}

# Start sgfuse-passthrough --vhost-user on $WORK/vhost.sock; sets DPID. Fails
# when the client cannot complete one call through it.
sgf_start_vhost() {
  rm -f "$WORK/vhost.sock"
  "$DAEMON" --vhost-user "$WORK/vhost.sock" -o "stats_file=$WORK/vhost-stats" "$WORK/backing" \
    2>"$WORK/vhost.log" &
  DPID=$!
  PIDS+=("$DPID")
  for _ in $(seq 1 100); do [ -S "$WORK/vhost.sock" ] && break; sleep 0.05; done
  "$BENCH" --connect "vhost-user:$WORK/vhost.sock" --file probe --runs 1 --total 128K \
    --op writev >/dev/null 2>"$WORK/probe.log"
}

# Start sgfuse-passthrough --listen on $WORK/sock; sets DPID. Fails when the
# client cannot complete one call through it.
sgf_start_listen() {
  "$DAEMON" --listen "unix:$WORK/sock" -o "stats_file=$WORK/sock-stats" "$WORK/backing" \
    2>"$WORK/listen.log" &
  DPID=$!
  PIDS+=("$DPID")
  for _ in $(seq 1 100); do [ -S "$WORK/sock" ] && break; sleep 0.05; done
  "$BENCH" --connect "unix:$WORK/sock" --file probe --runs 1 --total 128K --op writev \
    >/dev/null 2>"$WORK/probe.log"
}
