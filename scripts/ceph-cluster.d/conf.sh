# scripts/ceph-cluster.d/conf.sh - ceph.conf and keyrings of a throw-away
# cluster (sourced by scripts/ceph-cluster).

# write_conf DIR FSID PORT STORE BYTES
write_conf() {
  local dir=$1 fsid=$2 port=$3 store=$4 bytes=$5 osd
  if [ "$store" = bluestore ]; then
    # The OSD sizes its caches to this; 4 GiB by default is too much here.
    osd="osd objectstore = bluestore
bluestore block create = true
bluestore block size = $bytes
osd memory target = 1073741824"
  else
    osd="osd objectstore = memstore
memstore device bytes = $bytes"
  fi
  # Modules the mgr should not even load: all but status (ceph fs status)
  # and the always-on ones (missing, they make health HEALTH_ERR). The
  # others would only cost start time and memory.
  local mods path m
  path=$(ceph-conf -c /dev/null --show-config-value mgr_module_path 2>/dev/null)
  mods=$(cd "$path" 2>/dev/null && for m in */; do
           case ${m%/} in
             status|balancer|crash|devicehealth|orchestrator|pg_autoscaler) ;;
             progress|rbd_support|telemetry|volumes) ;;
             *) printf '%s,' "${m%/}" ;;
           esac
         done)
  cat >"$dir/ceph.conf" <<EOF
# Throw-away single-node cluster made by scripts/ceph-cluster; removed by
# scripts/ceph-cluster stop $dir
[global]
fsid = $fsid
mon host = [v2:127.0.0.1:$port]
public addr = 127.0.0.1
cluster addr = 127.0.0.1
ms bind msgr1 = false
ms bind ipv6 = false
auth cluster required = cephx
auth service required = cephx
auth client required = cephx
auth allow insecure global id reclaim = false
keyring = $dir/keyring
run dir = $dir/run
crash dir = $dir/crash
# Daemons: pid files, admin sockets and logs here ([client] overrides).
pid file = $dir/run/\$name.pid
admin socket = $dir/run/\$name.asok
log file = $dir/log/\$name.log
# One OSD: pools of one copy, small and fixed PG counts.
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon allow pool delete = true
mon warn on pool no redundancy = false
# A test must not stop because the disk holding DIR is fuller than 95 %.
mon data avail crit = 0
# A client of a broken cluster fails after 30 s instead of 300 s.
client mount timeout = 30

[mon]
mon data = $dir/\$name
keyring = $dir/\$name/keyring
# A taken port fails at once (not after 3 tries 5 s apart): start picks
# another.
ms bind retry count = 1
mon cluster log file = default=$dir/log/\$channel.log cluster=$dir/log/cluster.log
mon cluster log file level = info
mgr initial modules =

[mgr]
mgr data = $dir/\$name
keyring = $dir/\$name/keyring
mgr disabled modules = ${mods%,}

[osd]
osd data = $dir/\$name
keyring = $dir/\$name/keyring
$osd

[mds]
mds data = $dir/\$name
keyring = $dir/\$name/keyring

[client]
# Many clients at once (tests, daemons, ceph-fuse, the ceph CLI): one
# admin socket each, and no pid file or log unless asked for.
admin socket = $dir/run/\$name.\$pid.asok
pid file =
log file =
EOF
}

# keyring_entry NAME KEY CAPS... (CAPS: "mon" "allow *" ...)
keyring_entry() {
  local name=$1 key=$2
  shift 2
  printf '[%s]\n\tkey = %s\n' "$name" "$key"
  while [ $# -ge 2 ]; do
    printf '\tcaps %s = "%s"\n' "$1" "$2"
    shift 2
  done
}

# write_keyrings DIR MKFS_KEYRING: each daemon's own keyring in its data
# dir, client.admin's in DIR/keyring, and all of them (with mon.) in
# MKFS_KEYRING, which ceph-mon --mkfs takes as the initial auth database.
write_keyrings() (
  local dir=$1 all=$2 k
  key() { ceph-authtool --gen-print-key; }
  umask 077
  k=$(key) || return 1
  keyring_entry mon. "$k" mon 'allow *' >"$all"
  k=$(key) || return 1
  keyring_entry client.admin "$k" mon 'allow *' osd 'allow *' mds 'allow *' \
    mgr 'allow *' >"$dir/keyring"
  k=$(key) || return 1
  keyring_entry mgr.x "$k" mon 'allow profile mgr' osd 'allow *' mds 'allow *' \
    >"$dir/mgr.x/keyring"
  k=$(key) || return 1
  keyring_entry osd.0 "$k" mon 'allow profile osd' mgr 'allow profile osd' \
    osd 'allow *' >"$dir/osd.0/keyring"
  k=$(key) || return 1
  keyring_entry mds.a "$k" mon 'allow profile mds' mgr 'allow profile mds' \
    mds 'allow *' osd 'allow *' >"$dir/mds.a/keyring"
  cat "$dir/keyring" "$dir/mgr.x/keyring" "$dir/osd.0/keyring" \
    "$dir/mds.a/keyring" >>"$all"
)
