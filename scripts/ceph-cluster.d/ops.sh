# scripts/ceph-cluster.d/ops.sh - stop, kill, restart, fuse-mount and
# fuse-umount of a cluster made by start (sourced).

# Unmount the cluster's ceph-fuse mounts and anything mounted under DIR,
# then SIGKILL every process of a pid file in DIR/run. 1 if one stayed.
kill_daemons() { # DIR CONF
  local dir=$1 conf=$2 f m rc=0
  for f in "$dir"/run/fuse.*.mnt; do
    [ -f "$f" ] || continue
    m=$(cat "$f")
    mountpoints | grep -qxF -- "$m" && umount_path "$m"
  done
  # Deepest first, so a mount on a mount comes off before its parent.
  mountpoints | grep -F -- "$dir/" | sort -r | while IFS= read -r m; do
    [[ "$m" == "$dir"/* ]] && umount_path "$m"
  done
  # Clients (ceph-fuse) first, so they do not see their daemons go.
  local pids=() pid
  for f in "$dir"/run/fuse.*.pid; do
    pid=$(pid_of "$f" "$conf") && pids+=("$pid")
  done
  kill_wait "${pids[@]}" || rc=1
  pids=()
  for f in "$dir"/run/*.pid; do
    pid=$(pid_of "$f" "$conf") && pids+=("$pid")
  done
  kill_wait "${pids[@]}" || rc=1
  [ $rc = 0 ] && rm -f "$dir"/run/*.pid
  return $rc
}

cmd_stop() {
  [ $# -eq 1 ] || { usage >&2; exit 2; }
  local dir
  dir=$(realpath -m -- "$1")
  [ -e "$dir" ] || return 0
  [ -d "$dir" ] || die "stop $dir: not a directory"
  if [ ! -f "$dir/.ceph-cluster" ]; then
    [ -z "$(ls -A "$dir")" ] || die "stop $dir: not a cluster directory (no .ceph-cluster in it); left alone"
  fi
  kill_daemons "$dir" "$dir/ceph.conf" || die "stop $dir: some processes did not exit; DIR kept"
  # --one-file-system: never descend into a mount that would not come off.
  rm -rf --one-file-system -- "$dir" || die "stop $dir: could not remove it"
}

# daemon_name CMD osd|mon|mds|mgr -> osd.0 ...
daemon_name() {
  case $2 in
    mon) echo mon.a ;;
    mgr) echo mgr.x ;;
    osd) echo osd.0 ;;
    mds) echo mds.a ;;
    *) die "$1: daemon must be mon, mgr, osd or mds, not '$2'" ;;
  esac
}

cluster_dir() { # CMD DIR
  local dir
  dir=$(realpath -m -- "$2")
  [ -f "$dir/.ceph-cluster" ] && [ -f "$dir/ceph.conf" ] ||
    die "$1 $dir: not a cluster directory (no .ceph-cluster and ceph.conf in it)"
  echo "$dir"
}

cmd_kill() {
  [ $# -eq 2 ] || { usage >&2; exit 2; }
  local dir name pid
  dir=$(cluster_dir kill "$1") || exit 1
  name=$(daemon_name "kill $dir" "$2") || exit 1
  pid=$(pid_of "$dir/run/$name.pid" "$dir/ceph.conf") ||
    die "kill $dir $name: not running (no live pid of this cluster in $dir/run/$name.pid)"
  kill_wait "$pid" || die "kill $dir $name: pid $pid did not die"
  rm -f "$dir/run/$name.pid"
}

# A daemon's own view, through its admin socket.
asok() { timeout 10 ceph --admin-daemon "$1" "$2" 2>/dev/null; }

cmd_restart() {
  [ $# -eq 2 ] || { usage >&2; exit 2; }
  local name pid out
  dir=$(cluster_dir restart "$1") || exit 1
  conf=$dir/ceph.conf
  name=$(daemon_name "restart $dir" "$2") || exit 1
  pid=$(pid_of "$dir/run/$name.pid" "$conf") && die "restart $dir $name: still running (pid $pid); kill it first"
  if [ "$name" = osd.0 ] && grep -q '^osd objectstore = memstore' "$conf"; then
    die "restart $dir osd.0: memstore lost its data when the OSD was killed; start the cluster with --bluestore"
  fi
  timeout_s=${CEPH_START_TIMEOUT:-60}
  deadline=$((SECONDS + timeout_s))
  start_daemon "$name" || die "restart $dir $name: it did not start; see $dir/log/$name.log"
  # Back means what the new daemon itself says (the mon's maps still show
  # the killed one up for a while): the mon leads, the mgr is initialized
  # and available, osd.0 is active (booted into the map), the MDS active.
  local asok=$dir/run/$name.asok
  while [ $SECONDS -lt $deadline ]; do
    case $name in
      mon.a) out=$(asok "$asok" mon_status) && [[ "$out" == *'"state": "leader"'* ]] && return 0 ;;
      mgr.x) out=$(asok "$asok" mgr_status) && [[ "$out" == *'"initialized": true'* ]] &&
               out=$(cephc mgr stat 2>/dev/null) && [[ "$out" == *'"available": true'* ]] && return 0 ;;
      osd.0) out=$(asok "$asok" status) && [[ "$out" == *'"state": "active"'* ]] && return 0 ;;
      mds.a) out=$(asok "$asok" status) && [[ "$out" == *'"state": "up:active"'* ]] && return 0 ;;
    esac
    sleep 0.5
  done
  die "restart $dir $name: not back within $timeout_s s; see $dir/log/$name.log"
}

cmd_fuse_mount() {
  [ $# -eq 2 ] || { usage >&2; exit 2; }
  local dir mnt n
  dir=$(cluster_dir fuse-mount "$1") || exit 1
  mnt=$(realpath -e -- "$2") && [ -d "$mnt" ] || die "fuse-mount $2: no such directory"
  command -v ceph-fuse >/dev/null || { echo "ceph-cluster: ceph-fuse not found (scripts/deps installs it)" >&2; exit 77; }
  for ((n = 0; ; n++)); do
    [ -e "$dir/run/fuse.$n.mnt" ] || break
  done
  echo "$mnt" >"$dir/run/fuse.$n.mnt"
  # ceph-fuse goes to the background once the mount is up; its exit
  # status tells whether it came up.
  ceph-fuse -c "$dir/ceph.conf" --id admin --client_fs cephfs \
    --pid-file "$dir/run/fuse.$n.pid" --admin-socket "$dir/run/fuse.$n.asok" \
    --log-file "$dir/log/fuse.$n.log" "$mnt" >>"$dir/log/fuse.$n.out" 2>&1 ||
    die "fuse-mount $mnt: ceph-fuse failed; see $dir/log/fuse.$n.log and $dir/log/fuse.$n.out"
}

cmd_fuse_umount() {
  [ $# -eq 1 ] || { usage >&2; exit 2; }
  local mnt p pid="" pidfile="" arg prev
  mnt=$(realpath -m -- "$1")
  mountpoints | grep -qxF -- "$mnt" || die "fuse-umount $mnt: not mounted"
  # The ceph-fuse serving mnt: the one whose last argument it is; its
  # --pid-file names the record fuse-mount left in DIR/run.
  for p in /proc/[0-9]*; do
    [ "$(basename "$(readlink "$p/exe" 2>/dev/null)")" = ceph-fuse ] || continue
    [ "$(tr '\0' '\n' <"$p/cmdline" 2>/dev/null | tail -n 1)" = "$mnt" ] || continue
    pid=${p#/proc/}
    prev=""
    while IFS= read -r -d '' arg; do
      [ "$prev" = --pid-file ] && pidfile=$arg
      prev=$arg
    done <"$p/cmdline"
  done
  fusermount3 -u -- "$mnt" 2>/dev/null || umount -- "$mnt" ||
    die "fuse-umount $mnt: unmount failed (busy?)"
  if [ -n "$pid" ]; then
    # It exits by itself once unmounted.
    for ((p = 0; p < 200; p++)); do
      is_gone "$pid" && break
      sleep 0.1
    done
    is_gone "$pid" || die "fuse-umount $mnt: ceph-fuse $pid did not exit"
  fi
  [ -n "$pidfile" ] && rm -f "$pidfile" "${pidfile%.pid}.mnt" "${pidfile%.pid}.asok"
  return 0
}
