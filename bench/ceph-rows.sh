# bench/ceph-rows.sh - the Ceph row group of bench/seed-table (sourced by it,
# after common.sh): the same O_DIRECT writev/readv loops on CephFS, through
# ceph-fuse (the peer) and sgfuse-ceph, on one throw-away cluster that
# scripts/ceph-cluster starts here and the cleanup of common.sh always
# stops. One request per page moves only ~5-15 MB/s into this single-OSD
# cluster, so the other rows' TOTAL would take ~10-25 s per run: each
# measurement here runs for CEPH_DURATION seconds instead, over a file range
# of CEPH_TOTAL bytes, in CEPH_ROUNDS interleaved rounds of CEPH_RUNS runs
# (every target once per round, its FUSE daemon mounted afresh), so the
# group adds about 1.5 minutes.
#
# Rows, each at 1 and 16 threads (CEPH_THREADS):
#   ceph-fuse, per-segment calls: one pwritev/preadv of one segment each,
#     the per-page case (one FUSE request per page) reached from user space,
#     since ceph-fuse cannot be asked for max_pages=1 through
#     scripts/ceph-cluster fuse-mount; it costs 32 times the system calls;
#   ceph-fuse, packed: SEGMENTS x SEG_SIZE per call;
#   sgfuse-ceph, original (max_pages=1) and packed (its default).
# Server CPU is the FUSE daemon's user+system time, libcephfs inside it
# included, not the Ceph daemons': for sgfuse-ceph from its stats file
# (with its request counts), for ceph-fuse from /proc alone.

CEPH_ROUNDS=${CEPH_ROUNDS:-3}
CEPH_RUNS=${CEPH_RUNS:-3}
CEPH_DURATION=${CEPH_DURATION:-0.5}
CEPH_TOTAL=${CEPH_TOTAL:-16M}
CEPH_THREADS=${CEPH_THREADS:-1 16}
CEPH_CLUSTER=$ROOT/scripts/ceph-cluster
CEPH_DAEMON=$BUILD/tools/sgfuse-ceph
CEPH_FAILED=  # set when the group could not run for a reason other than Ceph missing

# The cluster's daemons and ceph-fuse in a session of their own: a Ctrl-C
# then reaches only the bench (whose cleanup stops the cluster), not an
# MDS that would quit, nor a ceph-fuse that would shut down under a request
# the kernel then waits on for good, and the cleanup with it.
ceph_cluster() { setsid --wait "$CEPH_CLUSTER" "$@"; }

# One measurement, tagged so bench/table.py prints it in the Ceph table.
ceph_bench() {
  "$BENCH" --json --runs "$CEPH_RUNS" --duration "$CEPH_DURATION" --total "$CEPH_TOTAL" \
    --seg-size "$SEG_SIZE" "$@" | sed 's/^{/{"group":"ceph",/' | tee -a "$OUT" >/dev/null
}

threads_suffix() { [ "$1" = 1 ] || echo ", $1 threads"; }

# The pid of the ceph-fuse serving MNT, from the record fuse-mount left.
ceph_fuse_pid() {
  local rec pid
  for rec in "$CEPH_DIR"/run/fuse.*.mnt; do
    [ -f "$rec" ] && [ "$(cat "$rec")" = "$1" ] || continue
    pid=$(cat "${rec%.mnt}.pid" 2>/dev/null) || return 1
    [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = ceph-fuse ] && echo "$pid" && return 0
  done
  return 1
}

ceph_fuse_rows() {
  local mnt pid= t sfx
  mnt=$(realpath "$WORK/mnt-ceph-fuse")
  ceph_cluster fuse-mount "$CEPH_DIR" "$mnt" >>"$WORK/ceph.log" 2>&1 || {
    echo "    ceph-fuse did not mount (see $WORK/ceph.log)" >&2; return 1; }
  for _ in $(seq 1 20); do pid=$(ceph_fuse_pid "$mnt") && break; sleep 0.1; done
  [ -n "$pid" ] || { echo "    no pid file of the ceph-fuse on $mnt" >&2; return 1; }
  for t in $CEPH_THREADS; do
    sfx=$(threads_suffix "$t")
    ceph_bench --label "ceph-fuse, per-segment calls$sfx" --segments 1 --threads "$t" \
      --path "$mnt/cf-page-$t.dat" --server-pid "$pid" \
      --note "one pwritev/preadv per $SEG_SIZE B segment: one FUSE request per page" || return 1
    ceph_bench --label "ceph-fuse, packed$sfx" --segments "$SEGMENTS" --threads "$t" \
      --path "$mnt/cf-packed-$t.dat" --server-pid "$pid" || return 1
  done
  ceph_cluster fuse-umount "$mnt" >>"$WORK/ceph.log" 2>&1 || {
    echo "    ceph-fuse did not unmount (see $WORK/ceph.log)" >&2; return 1; }
}

# sgfuse_ceph_rows LABEL FILE OPTIONS [NOTE]: FILE names the rows' files.
sgfuse_ceph_rows() {
  local t mnt=$WORK/mnt-ceph
  "$CEPH_DAEMON" -f -o "conf=$CEPH_DIR/ceph.conf,stats_file=$WORK/ceph-stats${3:+,$3}" "$mnt" \
    2>"$WORK/sgfuse-ceph.log" &
  DPID=$!
  PIDS+=("$DPID"); MOUNTS+=("$mnt")
  sgf_wait_mount "$mnt" "$DPID" || { cat "$WORK/sgfuse-ceph.log" >&2; return 1; }
  for t in $CEPH_THREADS; do
    ceph_bench --label "$1$(threads_suffix "$t")" --segments "$SEGMENTS" --threads "$t" \
      --path "$mnt/$2-$t.dat" --server-stats "$WORK/ceph-stats:$DPID" \
      ${4:+--note "$4"} || return 1
  done
  sgf_stop_daemon "$DPID" "$mnt"
}

# The whole group: 0 when it ran or Ceph is not here (a note says so), 1
# (and CEPH_FAILED) when it could not run.
ceph_rows() {
  local round rc
  if [ ! -x "$CEPH_DAEMON" ]; then
    echo "  sgfuse-ceph not built (no libcephfs): Ceph rows skipped" >&2; return 0
  fi
  if ! command -v ceph-mon >/dev/null; then
    echo "  Ceph not installed (no ceph-mon): Ceph rows skipped" >&2; return 0
  fi
  mkdir -p "$WORK/mnt-ceph" "$WORK/mnt-ceph-fuse"
  CEPH_DIR=$WORK/ceph  # from here on the cleanup stops it
  rc=0
  ceph_cluster start "$CEPH_DIR" >"$WORK/ceph.log" 2>&1 || rc=$?
  if [ "$rc" = 77 ]; then
    CEPH_DIR=  # nothing was started
    echo "  Ceph not installed: Ceph rows skipped" >&2; return 0
  elif [ "$rc" != 0 ]; then
    echo "  the Ceph cluster did not start; Ceph rows skipped:" >&2
    tail -n 5 "$WORK/ceph.log" >&2
    CEPH_FAILED=yes; return 1
  fi
  echo "ceph rows: $SEGMENTS x $SEG_SIZE B, $CEPH_DURATION s per run over $CEPH_TOTAL," \
       "$CEPH_ROUNDS rounds of $CEPH_RUNS runs, threads $CEPH_THREADS" >&2
  for round in $(seq 1 "$CEPH_ROUNDS"); do
    echo "  ceph round $round/$CEPH_ROUNDS" >&2
    ceph_fuse_rows &&
      sgfuse_ceph_rows "sgfuse-ceph, original (max_pages=1)" sgf-original "max_pages=1" \
        "max_pages=1: the kernel sends one request per page, as before the patch set" &&
      sgfuse_ceph_rows "sgfuse-ceph, packed" sgf-packed "" ||
      { CEPH_FAILED=yes; return 1; }
  done
  ceph_cluster stop "$CEPH_DIR" >>"$WORK/ceph.log" 2>&1 && CEPH_DIR=
  return 0
}
