# scripts/ceph-cluster.d/start.sh - `start`: bring up mon, mgr, OSD and MDS
# of a new cluster in DIR and wait for the MDS to be active (sourced).

source "$(dirname "${BASH_SOURCE[0]}")/conf.sh"

need_ceph() {
  local b
  for b in ceph ceph-mon ceph-mgr ceph-osd ceph-mds ceph-authtool monmaptool; do
    command -v "$b" >/dev/null || {
      echo "ceph-cluster: $b not found: Ceph is not installed (scripts/deps installs it)" >&2
      exit 77
    }
  done
}

# Local TCP ports in use (any state), as 4-digit hex, per /proc/net/tcp*.
port_in_use() { grep -q ":$(printf '%04X' "$1") " /proc/net/tcp /proc/net/tcp6 2>/dev/null; }

# Below the ephemeral range and away from ms_bind_port_min..max (6800-7300).
pick_port() {
  local p i
  for ((i = 0; i < 100; i++)); do
    p=$((20000 + RANDOM % 12768))
    port_in_use "$p" || { echo "$p"; return 0; }
  done
  return 1
}

remaining() { echo $((deadline - SECONDS > 1 ? deadline - SECONDS : 1)); }

# The ceph CLI as client.admin, bounded by what is left of the start time.
cephc() { timeout -k 2 "$(remaining)" ceph -c "$conf" --connect-timeout "$(remaining)" "$@"; }

# The OSD's mkfs and start in the background: let it end (it would start
# the OSD after we killed the rest), or kill it and its ceph-osd.
end_osd_job() {
  local i
  [ -n "${osd_job:-}" ] || return 0
  for ((i = 0; i < 300; i++)); do
    kill -0 "$osd_job" 2>/dev/null || break
    sleep 0.1
  done
  kill -0 "$osd_job" 2>/dev/null && kill -KILL $(pgrep -P "$osd_job") "$osd_job" 2>/dev/null
  wait "$osd_job" 2>/dev/null
  osd_job=
}

# Kill what start has started, say why it failed, keep DIR for the logs.
start_failed() { # MESSAGE [LOG]
  trap - INT TERM HUP
  end_osd_job
  # fd 3: start's stderr (a trap may run inside a redirected command).
  {
    echo "ceph-cluster start $dir: $1"
    if [ -n "${2:-}" ] && [ -s "$2" ]; then
      echo "--- last lines of $2:"
      tail -n 15 "$2"
    fi
    kill_daemons "$dir" "$conf"
    echo "ceph-cluster: daemons killed; DIR kept for its logs (scripts/ceph-cluster stop $dir removes it)"
  } >&3 2>&3
  exit 1
}

# start_daemon NAME: e.g. mon.a; ceph-* daemonizes once it is set up, and
# writes DIR/run/NAME.pid. What it prints before that goes to log/NAME.out.
start_daemon() {
  local type=${1%%.*} id=${1#*.}
  "ceph-$type" -c "$conf" -i "$id" >>"$dir/log/$1.out" 2>&1
}

# mon.a on a free port; when another process took the port meanwhile, make
# it again on another one.
start_mon() {
  local attempt port mkfs_keyring=$dir/run/mkfs.keyring
  for ((attempt = 1; attempt <= 5; attempt++)); do
    port=$(pick_port) || start_failed "no free TCP port for the mon in 20000-32767"
    write_conf "$dir" "$fsid" "$port" "$store" "$bytes"
    rm -rf "$dir/mon.a" "$dir/run/monmap"
    monmaptool --create --fsid "$fsid" --addv a "[v2:127.0.0.1:$port]" \
      "$dir/run/monmap" >>"$dir/log/mon.a.out" 2>&1 ||
      start_failed "monmaptool failed" "$dir/log/mon.a.out"
    ceph-mon -c "$conf" -i a --mkfs --monmap "$dir/run/monmap" \
      --keyring "$mkfs_keyring" >>"$dir/log/mon.a.out" 2>&1 ||
      start_failed "ceph-mon --mkfs failed" "$dir/log/mon.a.out"
    if start_daemon mon.a; then
      rm -f "$mkfs_keyring" "$dir/run/monmap"
      return 0
    fi
    grep -qiE 'address already in use|unable to bind' "$dir/log/mon.a.out" "$dir/log/mon.a.log" \
      2>/dev/null || start_failed "mon.a did not start" "$dir/log/mon.a.log"
    echo "ceph-cluster: port $port was taken, trying another" >&2
  done
  start_failed "mon.a could not bind a port in 5 attempts" "$dir/log/mon.a.log"
}

# The first up:active MDS means the whole chain works: mon quorum, OSD up,
# PGs active, fs created, MDS created its journal and root.
wait_mds_active() {
  local out=""
  while [ $SECONDS -lt $deadline ]; do
    out=$(cephc mds stat 2>&1) && [[ "$out" == *up:active* ]] && return 0
    sleep 0.5
  done
  # Name the daemon that let it down.
  local d
  for d in mon.a osd.0 mds.a; do
    local pid
    pid=$(cat "$dir/run/$d.pid" 2>/dev/null)
    if [ -z "$pid" ] || is_gone "$pid"; then
      start_failed "$d is not running (mds stat: ${out:-none})" "$dir/log/$d.log"
    fi
  done
  if ! timeout 10 ceph -c "$conf" --connect-timeout 5 osd dump 2>/dev/null | grep -q '^osd\.0 up'; then
    start_failed "osd.0 did not come up within $timeout_s s" "$dir/log/osd.0.log"
  fi
  start_failed "mds.a did not become active within $timeout_s s (mds stat: ${out:-none})" \
    "$dir/log/mds.a.log"
}

cmd_start() {
  exec 3>&2
  osd_job=
  store=${CEPH_OSD_STORE:-memstore}
  while [ $# -gt 0 ]; do
    case $1 in
      --bluestore) store=bluestore ;;
      --memstore) store=memstore ;;
      -*) die "start: unknown option $1" ;;
      *) break ;;
    esac
    shift
  done
  [ $# -eq 1 ] || { usage >&2; exit 2; }
  case $store in
    memstore) bytes=${CEPH_OSD_BYTES:-$((4 << 30))} ;;
    bluestore) bytes=${CEPH_OSD_BYTES:-$((20 << 30))} ;;
    *) die "start: CEPH_OSD_STORE=$store: not memstore or bluestore" ;;
  esac
  [[ "$bytes" =~ ^[0-9]+$ ]] || die "start: CEPH_OSD_BYTES=$bytes: not a number of bytes"
  timeout_s=${CEPH_START_TIMEOUT:-60}
  need_ceph
  dir=$(realpath -m -- "$1")
  conf=$dir/ceph.conf
  # Admin sockets DIR/run/client.admin.PID.asok must fit a unix socket path.
  [ ${#dir} -le 64 ] || die "start $dir: path longer than 64 bytes (admin sockets under it would not fit)"
  if [ -e "$dir" ] && { [ ! -d "$dir" ] || [ -n "$(ls -A "$dir")" ]; }; then
    die "start $dir: exists and is not an empty directory"
  fi
  mkdir -p "$dir" || die "start $dir: cannot create it"
  # stop removes only directories carrying this mark.
  echo "scripts/ceph-cluster $store" >"$dir/.ceph-cluster"
  mkdir -p "$dir"/{log,run,crash,mgr.x,osd.0,mds.a} || start_failed "cannot make its subdirectories"
  trap 'start_failed "interrupted"' INT TERM HUP
  deadline=$((SECONDS + timeout_s))

  fsid=$(cat /proc/sys/kernel/random/uuid)
  local osd_uuid
  osd_uuid=$(cat /proc/sys/kernel/random/uuid)
  write_keyrings "$dir" "$dir/run/mkfs.keyring" || start_failed "ceph-authtool failed"
  start_mon
  # mgr and MDS wait for the mon on their own; the MDS stays standby until
  # the fs exists.
  start_daemon mgr.x || start_failed "mgr.x did not start" "$dir/log/mgr.x.log"
  start_daemon mds.a || start_failed "mds.a did not start" "$dir/log/mds.a.log"
  # The OSD's id first; its mkfs and start (2 s) then overlap the pools
  # and the fs being made (one CLI session: each ceph run costs ~0.3 s).
  cephc osd new "$osd_uuid" 0 >"$dir/log/setup.out" 2>&1 ||
    start_failed "ceph osd new failed" "$dir/log/setup.out"
  { ceph-osd -c "$conf" -i 0 --mkfs --osd-uuid "$osd_uuid" >>"$dir/log/osd.0.out" 2>&1 &&
      start_daemon osd.0; } &
  osd_job=$!
  cephc >>"$dir/log/setup.out" 2>&1 <<EOF || start_failed "making cephfs failed" "$dir/log/setup.out"
osd pool create cephfs_metadata 8 8
osd pool create cephfs_data 8 8
fs new cephfs cephfs_metadata cephfs_data
EOF
  # Interactive ceph exits 0 whatever its commands did: the last must have worked.
  grep -q '^new fs with metadata pool' "$dir/log/setup.out" ||
    start_failed "making cephfs failed" "$dir/log/setup.out"
  wait "$osd_job" || { osd_job=; start_failed "osd.0 did not start (mkfs or start)" "$dir/log/osd.0.log"; }
  osd_job=
  wait_mds_active
  trap - INT TERM HUP
  echo "ceph-cluster: up in $SECONDS s: ceph -c $conf -s"
}
