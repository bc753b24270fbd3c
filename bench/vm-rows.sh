# bench/vm-rows.sh - the VM row group of bench/seed-table (sourced by it,
# after common.sh): the seed's loop inside a QEMU guest (tests/vm, TCG),
# its I/O reaching sgfuse through virtio-fs or through a disk image on a
# FUSE mount; each boot is one run of tests/vm/vm_bench for one target.
#
# Targets, each guest running guest_io seed packed (32 x 4 KiB per call)
# then per page (one pwrite/pread per page), VM_SECS seconds per phase:
#   virtio-fs, sgfuse backend: sgfuse-passthrough --vhost-user over a tmpfs
#     directory, mounted in the guest with mount -t virtiofs;
#   virtio-fs, virtiofsd: QEMU's C virtiofsd (-o cache=none) on the same;
#   VM disk on sgfuse-passthrough / on libfuse passthrough_ll: a raw image
#     on that kernel FUSE mount is the guest's /dev/vda (cache=none,
#     aio=threads), the seed's own scenario.
# MB/s are the guest's; server CPU is the backend's (the FUSE daemon's)
# host user+system time, sampled at the guest's console marks between
# phases. Under TCG the guest's emulation dominates wall time (its MB/s
# say more about QEMU than about the backend), so CPU per GB is the fair
# comparison of backends; both are shown (bench/table.py), and QEMU's own
# CPU goes into cpu_user_s/cpu_sys_s. VM_ROUNDS interleaved rounds (every
# target once per round, its backend and guest started afresh); one boot
# takes ~15-20 s on 2 vCPUs, so the group adds about 4 minutes.
# Skipped with a note where QEMU, the static guest program or the guest
# kernel cannot be had; a target whose backend is missing (virtiofsd, a
# buildable passthrough_ll) is dropped with a note.

VM_ROUNDS=${VM_ROUNDS:-3}
VM_SECS=${VM_SECS:-2}
VM_BENCH=$BUILD/tests/vm/vm_bench
VM_TARGETS=(virtiofs-sgfuse virtiofs-virtiofsd disk-sgfuse disk-peer)
VM_FAILED=  # set when the group could not run for a reason other than a missing piece

# The environment meson gives the vm suite (docs/vm.md), unless set.
vm_env() {
  export SGF_VM_IMAGE=${SGF_VM_IMAGE:-$ROOT/tests/vm/guest-image} \
         SGF_VM_CACHE=${SGF_VM_CACHE:-$BUILD/tests/vm/guest} \
         SGF_VM_GUEST_IO=${SGF_VM_GUEST_IO:-$BUILD/tests/vm/guest_io}
}

# vm_boot TARGET: one guest; its JSON lines into $OUT, its log kept. 0, 77
# (cannot run here: the log's SKIP line says why) or the failure.
vm_boot() {
  local rc=0
  # SGF_TEST_OPTS would reach our daemon's options through the harness.
  env -u SGF_TEST_OPTS "$VM_BENCH" "$DAEMON" "$1" --secs "$VM_SECS" --peer "$WORK/passthrough_ll" \
    >>"$OUT" 2>"$WORK/vm-$1.log" || rc=$?
  return "$rc"
}

# The whole group: 0 when it ran or cannot run here (a note says so), 1
# (and VM_FAILED) when it failed.
vm_rows() {
  local qemu=${SGF_VM_QEMU:-qemu-system-x86_64} round t rc targets=()
  if ! command -v "$qemu" >/dev/null; then
    echo "  no $qemu (scripts/deps installs qemu-system-x86): VM rows skipped" >&2; return 0
  fi
  if ! ninja -C "$BUILD" -t targets all 2>/dev/null | grep -q '^tests/vm/guest_io:'; then
    echo "  no static libc (libc6-dev's libc.a), so no guest program: VM rows skipped" >&2
    return 0
  fi
  ninja -C "$BUILD" tests/vm/vm_bench tests/vm/guest_io >/dev/null ||
    { ninja -C "$BUILD" tests/vm/vm_bench tests/vm/guest_io; VM_FAILED=yes; return 1; }
  vm_env
  rc=0
  "$SGF_VM_IMAGE" "$SGF_VM_CACHE" "$SGF_VM_GUEST_IO" >"$WORK/vm-image.log" 2>&1 || rc=$?
  if [ "$rc" = 77 ]; then
    echo "  the guest cannot be had ($(grep -m1 SKIP "$WORK/vm-image.log")): VM rows skipped" >&2
    return 0
  elif [ "$rc" != 0 ]; then
    echo "  tests/vm/guest-image failed; VM rows skipped:" >&2
    tail -n 5 "$WORK/vm-image.log" >&2
    VM_FAILED=yes; return 1
  fi
  for t in "${VM_TARGETS[@]}"; do
    if [ "$t" = disk-peer ] && [ ! -x "$WORK/passthrough_ll" ] && ! sgf_build_peer; then
      echo "  libfuse passthrough_ll cannot be built (see $WORK/peer-build.log): its VM rows" \
           "skipped" >&2
      continue
    fi
    targets+=("$t")
  done
  echo "vm rows: guest_io seed 32 x 4 KiB per call and page by page, $VM_SECS s per phase," \
       "$VM_ROUNDS rounds, one boot per target" >&2
  local t0=$SECONDS
  for round in $(seq 1 "$VM_ROUNDS"); do
    echo "  vm round $round/$VM_ROUNDS" >&2
    local left=()
    for t in "${targets[@]}"; do
      rc=0
      vm_boot "$t" || rc=$?
      if [ "$rc" = 77 ]; then
        echo "    $t cannot run here ($(grep -m1 '^SKIP' "$WORK/vm-$t.log")): its rows skipped" >&2
        continue
      elif [ "$rc" != 0 ]; then
        echo "    $t failed (exit $rc); from $WORK/vm-$t.log:" >&2
        grep -E '^(FAIL|harness|vm: )' "$WORK/vm-$t.log" | tail -n 8 >&2 || true
        VM_FAILED=yes; return 1
      fi
      left+=("$t")
    done
    targets=("${left[@]}")
  done
  echo "  vm rows: $((SECONDS - t0)) s" >&2
  return 0
}
