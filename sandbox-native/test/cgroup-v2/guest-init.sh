#!/bin/sh
# /init of the cgroup v2 test guest: PID 1 of a Debian 12 kernel booted by qemu.
#
# Mounts a pure cgroup v2 hierarchy (no v1 controller anywhere), runs each container
# scenario with the real sandbox-native and prints one line per scenario on the serial
# console:  RESULT {"scenario":"…", …facts…}
# The guest only measures; the host (cgroup-v2.test.ts) decides what passes, so a result
# line carries raw readings, never a verdict. A last line `GUEST-DONE` tells the host that
# the guest got through every scenario rather than crashing half-way.
#
# Kernel command line (run-guest.sh DIR TIMEOUT ARGS…): lc.only=NAME[,NAME] runs only those
# scenarios, lc.debug adds the launcher's debug log and trace.

# Stage 1, on the initramfs: move to a tmpfs root and start again there. The launcher
# pivot_roots into each container, and pivot_root(2) refuses (EINVAL) while the root it
# leaves is the initramfs itself, which can never be unmounted. A real host boots the same
# way: its root filesystem is mounted over the initramfs and switch_root moves onto it.
if [ ! -e /.stage2 ]; then
  bb=/bin/busybox
  $bb mkdir -p /newroot
  $bb mount -t tmpfs -o mode=755 root /newroot
  $bb cp -a /bin /sbin /lib /init /newroot/
  $bb mkdir -p /newroot/dev /newroot/proc /newroot/sys /newroot/run /newroot/tmp /newroot/disk
  $bb touch /newroot/.stage2
  exec $bb switch_root /newroot /init
fi

/bin/busybox --install -s /bin
export PATH=/bin:/sbin

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs -o mode=755 tmpfs /run
# The options systemd uses on a pure v2 host, so the launcher sees what production gives it.
mount -t cgroup2 -o nsdelegate,memory_recursiveprot cgroup2 /sys/fs/cgroup

finish() {
  [ "$debug" = true ] && cat $LOG/trace
  echo "GUEST-DONE"
  sync
  poweroff -f
}

fatal() {
  echo "GUEST-FATAL $*"
  finish
}

# Modules in dependency order, as build-guest.sh resolved them from the kernel's modinfo.
while read -r mod; do
  insmod "/lib/modules/$mod.ko" || fatal "insmod $mod failed"
done < /lib/modules/load-order

# The disk the host made with mkfs.ext4 -d: rootfs, layers, bundles. ext4 and not tmpfs
# because the launcher idmaps the rootfs, and Linux 6.1's tmpfs cannot be idmapped.
n=0
while [ ! -b /dev/vda ] && [ $n -lt 100 ]; do sleep 0.05; n=$((n + 1)); done
mount -t ext4 /dev/vda /disk || fatal "cannot mount /dev/vda"

CG=/sys/fs/cgroup
B=/disk/bundles
R=/disk/rootfs
LOG=/run/logs
mkdir -p $LOG
SN=/sbin/sandbox-native
# lc.debug on the kernel command line: the launcher's --debug log and its --trace lines
# (the last setup step a failing container reached), printed before power-off.
debug=false
grep -q 'lc\.debug' /proc/cmdline && debug=true && SN="$SN --debug --trace $LOG/trace"

# ---- helpers ---------------------------------------------------------------------------

# A JSON string literal of $1 (quotes, backslashes and newlines escaped).
js() {
  printf '"%s"' "$(printf '%s' "$1" | sed 's/\\/\\\\/g; s/"/\\"/g; s/\t/ /g' | awk 'NR > 1 { printf "\\n" } { printf "%s", $0 }')"
}

# A file's content as a JSON string, or null when it is missing.
jsfile() {
  if [ -e "$1" ]; then js "$(cat "$1")"; else printf null; fi
}

# `state` output on one line (it is JSON already), or null.
jsstate() {
  out="$($SN state "$1" 2>/dev/null)" && printf '%s' "$out" | tr -d '\n' || printf null
}

# The "status" field of `state`.
status_of() {
  $SN state "$1" 2>/dev/null | sed -n 's/^ *"status": *"\([a-z]*\)".*/\1/p'
}

# The cgroup directory the launcher should use: linux.cgroupsPath of the bundle's config.
cgroup_of() {
  sed -n 's/^ *"cgroupsPath": "\(.*\)",*$/\1/p' "$B/$1/config.json"
}

now_ms() { awk '{ printf "%d", $1 * 1000 }' /proc/uptime; }

# Wait until file $1 exists, at most $2 seconds.
wait_file() {
  n=0
  while [ ! -e "$1" ]; do
    [ $n -ge $(($2 * 20)) ] && return 1
    sleep 0.05
    n=$((n + 1))
  done
}

# Wait for background process $1 at most $2 seconds; sets rc to its exit status, or to
# "hung" (after killing it) so one stuck scenario cannot eat the others' time.
wait_for() {
  n=0
  while [ -e "/proc/$1" ] && [ "$(cut -d' ' -f3 "/proc/$1/stat" 2>/dev/null)" != Z ]; do
    if [ $n -ge $(($2 * 20)) ]; then
      kill -9 "$1"
      wait "$1"
      rc='"hung"'
      return 1
    fi
    sleep 0.05
    n=$((n + 1))
  done
  wait "$1"
  rc=$?
}

# "key value" lines (cpu.stat, memory.events…): the value of one key, or -1.
stat_of() {
  awk -v k="$2" '$1 == k { print $2; found = 1 } END { if (!found) print -1 }' "$1" 2>/dev/null || echo -1
}

selected() {
  only="$(sed -n 's/.*lc\.only=\([^ ]*\).*/\1/p' /proc/cmdline)"
  [ -z "$only" ] && return 0
  case ",$only," in *",$1,"*) return 0 ;; esac
  return 1
}

# The container writes /tmp/<name>.ready in the rootfs when it is running and waits for
# /handoff/<name>.go, which the guest makes in the directory bind-mounted there (bundles.ts):
# a name made in the rootfs after the container looked for it would stay unseen, the rootfs
# being an overlay.
HANDOFF=/disk/handoff
mkdir -p $HANDOFF
go() { touch "$HANDOFF/$1.go"; }

# ---- the guest itself -------------------------------------------------------------------

# Proof that this is a pure v2 host: what is mounted at /sys/fs/cgroup, whether any v1
# hierarchy exists at all, and which controllers the root offers.
echo "GUEST-BOOTED $(now_ms)ms after kernel start"
v1_mounts=$(awk '$3 == "cgroup"' /proc/mounts | wc -l)
printf 'RESULT {"scenario":"guest","kernel":%s,"cgroupFsType":%s,"v1Mounts":%s,"rootControllers":%s}\n' \
  "$(js "$(uname -r)")" "$(js "$(awk -v m=$CG '$2 == m { print $3 }' /proc/mounts)")" "$v1_mounts" "$(jsfile $CG/cgroup.controllers)"

# ---- scenarios -------------------------------------------------------------------------

# A container runs and exits 0; its cgroup is linux.cgroupsPath while it runs, and is gone after.
scenario_basic() {
  cg=$(cgroup_of basic)
  $SN run -b $B/basic --pid-file /run/basic.pid basic > $LOG/basic.out 2>&1 &
  sn=$!
  wait_file "$R/tmp/basic.ready" 30
  pid=$(cat /run/basic.pid 2>/dev/null)
  dir_while=false; [ -d "$CG$cg" ] && dir_while=true
  procs_while=$(cat "$CG$cg/cgroup.procs" 2>/dev/null | wc -l)
  init_cgroup=$(cat "/proc/$pid/cgroup" 2>/dev/null)
  controllers=$(cat "$CG$cg/cgroup.controllers" 2>/dev/null)
  go basic
  wait_for $sn 30
  dir_after=false; [ -d "$CG$cg" ] && dir_after=true
  printf 'RESULT {"scenario":"basic","exitCode":%s,"cgroupsPath":%s,"cgroupDirWhileRunning":%s,"procsWhileRunning":%s,"initCgroup":%s,"controllers":%s,"cgroupDirAfter":%s,"output":%s}\n' \
    "$rc" "$(js "$cg")" $dir_while "$procs_while" "$(js "$init_cgroup")" "$(js "$controllers")" $dir_after "$(jsfile $LOG/basic.out)"
}

# memory.max and memory.swap.max while it runs; then dd allocates past the limit, the
# kernel's OOM killer ends it, and `state` (kept with --keep) says oomKilled.
scenario_memory() {
  cg=$(cgroup_of memory)
  $SN run --keep -b $B/memory memory > $LOG/memory.out 2>&1 &
  sn=$!
  wait_file "$R/tmp/memory.ready" 30
  mem_max=$(jsfile "$CG$cg/memory.max")
  swap_max=$(jsfile "$CG$cg/memory.swap.max")
  go memory
  wait_for $sn 60
  state=$(jsstate memory)
  $SN delete memory > /dev/null 2>&1
  dir_after=false; [ -d "$CG$cg" ] && dir_after=true
  printf 'RESULT {"scenario":"memory","exitCode":%s,"memoryMax":%s,"memorySwapMax":%s,"state":%s,"cgroupDirAfter":%s,"output":%s}\n' \
    "$rc" "$mem_max" "$swap_max" "$state" $dir_after "$(jsfile $LOG/memory.out)"
}

# A fork bomb under pids.max: sampled while it rages, pids.current must never pass the
# limit and pids.events must count refused forks. The wall-clock limit ends it.
scenario_pids() {
  cg=$(cgroup_of pids)
  $SN run -b $B/pids pids > $LOG/pids.out 2>&1 &
  sn=$!
  wait_file "$R/tmp/pids.ready" 30
  pids_max=$(jsfile "$CG$cg/pids.max")
  go pids
  peak=0
  samples=""
  for i in $(seq 1 20); do
    cur=$(cat "$CG$cg/pids.current" 2>/dev/null || echo -1)
    samples="$samples${samples:+,}$cur"
    [ "$cur" -gt "$peak" ] && peak=$cur
    sleep 0.1
  done
  refused=$(stat_of "$CG$cg/pids.events" max)
  # The guest itself can still start processes: the limit held inside the cgroup only.
  guest_forks=false; /bin/true && guest_forks=true
  $SN kill pids KILL > $LOG/pids.kill 2>&1
  wait_for $sn 30
  printf 'RESULT {"scenario":"pids","exitCode":%s,"pidsMax":%s,"pidsCurrentSamples":[%s],"pidsCurrentPeak":%s,"pidsEventsMax":%s,"guestCanFork":%s}\n' \
    "$rc" "$pids_max" "$samples" "$peak" "$refused" $guest_forks
}

# Two busy loops (200% of a 2-CPU guest unlimited) under a 20% cpu.max: usage over a
# measured window is what the quota allows, and the kernel reports throttling.
scenario_cpu() {
  cg=$(cgroup_of cpu)
  $SN run -b $B/cpu cpu > $LOG/cpu.out 2>&1 &
  sn=$!
  wait_file "$R/tmp/cpu.ready" 30
  cpu_max=$(jsfile "$CG$cg/cpu.max")
  go cpu
  sleep 0.5   # let both loops start
  u0=$(stat_of "$CG$cg/cpu.stat" usage_usec)
  t0=$(now_ms)
  sleep 3
  u1=$(stat_of "$CG$cg/cpu.stat" usage_usec)
  t1=$(now_ms)
  throttled=$(stat_of "$CG$cg/cpu.stat" nr_throttled)
  periods=$(stat_of "$CG$cg/cpu.stat" nr_periods)
  $SN kill cpu KILL > $LOG/cpu.kill 2>&1
  wait_for $sn 30
  printf 'RESULT {"scenario":"cpu","exitCode":%s,"cpuMax":%s,"usageUsec":%s,"wallUsec":%s,"nrThrottled":%s,"nrPeriods":%s}\n' \
    "$rc" "$cpu_max" $((u1 - u0)) $(((t1 - t0) * 1000)) "$throttled" "$periods"
}

# Wall-clock limit: processes that setsid away, and one that is not even in the container's
# pid namespace but was moved into its cgroup, all die when the limit passes: only a kill
# of the whole cgroup (cgroup.kill on v2) reaches the last one.
scenario_timeout() {
  cg=$(cgroup_of timeout)
  sleep 1000 &
  outsider=$!
  t0=$(now_ms)
  $SN run --keep -b $B/timeout timeout > $LOG/timeout.out 2>&1 &
  sn=$!
  wait_file "$R/tmp/timeout.ready" 30
  procs=$(cat "$CG$cg/cgroup.procs" 2>/dev/null | tr '\n' ' ')
  moved=false
  echo $outsider > "$CG$cg/cgroup.procs" && grep -qx "$outsider" "$CG$cg/cgroup.procs" && moved=true
  wait_for $sn 60
  t1=$(now_ms)
  survivors=0
  for p in $procs; do
    [ -e "/proc/$p" ] && [ "$(cut -d' ' -f3 "/proc/$p/stat")" != Z ] && survivors=$((survivors + 1))
  done
  sleep 0.2
  outsider_state=$(cut -d' ' -f3 "/proc/$outsider/stat" 2>/dev/null)
  # Already reaped by the shell (it collects any child while waiting for another) or a
  # zombie: either way dead, and `wait` still has its status. Otherwise it survived.
  if [ -e "/proc/$outsider" ] && [ "$outsider_state" != Z ]; then
    kill -9 $outsider; wait $outsider; outsider_rc='"alive"'
  else
    wait $outsider; outsider_rc=$?
  fi
  state=$(jsstate timeout)
  $SN delete timeout > /dev/null 2>&1
  dir_after=false; [ -d "$CG$cg" ] && dir_after=true
  printf 'RESULT {"scenario":"timeout","exitCode":%s,"elapsedMs":%s,"procsBefore":%s,"survivors":%s,"outsiderMoved":%s,"outsiderExit":%s,"state":%s,"cgroupDirAfter":%s}\n' \
    "$rc" $((t1 - t0)) "$(js "$procs")" $survivors $moved "$outsider_rc" "$state" $dir_after
}

# pause/resume through cgroup.freeze: `state` says paused/running, and a counter the
# container bumps every 0.1 s stands still while paused and moves again after resume.
scenario_pause() {
  cg=$(cgroup_of pause)
  count="$R/tmp/pause.count"
  $SN run -d -b $B/pause pause > $LOG/pause.out 2>&1
  run_rc=$?
  wait_file "$count" 30
  sleep 0.3
  status_before=$(status_of pause)
  $SN pause pause > $LOG/pause.cmd 2>&1; pause_rc=$?
  status_paused=$(status_of pause)
  freeze_file=$(jsfile "$CG$cg/cgroup.freeze")
  frozen_event=$(stat_of "$CG$cg/cgroup.events" frozen)
  c1=$(cat $count); sleep 1; c2=$(cat $count)
  $SN resume pause >> $LOG/pause.cmd 2>&1; resume_rc=$?
  status_resumed=$(status_of pause)
  sleep 1; c3=$(cat $count)
  $SN kill pause KILL >> $LOG/pause.cmd 2>&1
  n=0
  while [ "$(status_of pause)" != stopped ] && [ $n -lt 100 ]; do sleep 0.05; n=$((n + 1)); done
  $SN delete pause >> $LOG/pause.cmd 2>&1; delete_rc=$?
  dir_after=false; [ -d "$CG$cg" ] && dir_after=true
  printf 'RESULT {"scenario":"pause","runRc":%s,"pauseRc":%s,"resumeRc":%s,"deleteRc":%s,"statusBefore":%s,"statusPaused":%s,"cgroupFreeze":%s,"eventsFrozen":%s,"countWhilePaused":[%s,%s],"countAfterResume":%s,"statusResumed":%s,"cgroupDirAfter":%s,"log":%s}\n' \
    $run_rc $pause_rc $resume_rc $delete_rc "$(js "$status_before")" "$(js "$status_paused")" "$freeze_file" "$frozen_event" \
    "${c1:-0}" "${c2:-0}" "${c3:-0}" "$(js "$status_resumed")" $dir_after "$(jsfile $LOG/pause.cmd)"
}

# An overlay rootfs from the layer annotations: the container sees the top layer's file,
# deletes it and writes a new one. The deletion must land in upper/ as a whiteout (a 0:0
# character device), the new file as a plain file, and the layers must stay untouched.
scenario_overlay() {
  ovl=/disk/overlay
  $SN run -b $B/overlay overlay > $LOG/overlay.out 2>&1 &
  sn=$!
  wait_for $sn 60
  wh="$ovl/container/upper/etc/layer.txt"
  whiteout=$(js "$(stat -c '%F %t:%T' "$wh" 2>/dev/null)")
  new_file=$(jsfile "$ovl/container/upper/new.txt")
  new_owner=$(js "$(stat -c '%u:%g' "$ovl/container/upper/new.txt" 2>/dev/null)")
  layer_kept=$(jsfile "$ovl/top/etc/layer.txt")
  root_entries=$(ls -A "$ovl/root" | wc -l)
  overlay_mounts=$(awk '$3 == "overlay"' /proc/mounts | wc -l)
  # overlayfs explains a refused mount only in the kernel log (before 6.5 it has no
  # fs_context messages for the launcher to read back).
  kernel_log=$(dmesg | grep -i overlay | tail -n 5)
  printf 'RESULT {"scenario":"overlay","exitCode":%s,"kernelLog":%s,"output":%s,"whiteout":%s,"newFile":%s,"newFileOwner":%s,"layerFileKept":%s,"rootDirEntries":%s,"overlayMountsInGuest":%s}\n' \
    "$rc" "$(js "$kernel_log")" "$(jsfile $LOG/overlay.out)" "$whiteout" "$new_file" "$new_owner" "$layer_kept" $root_entries $overlay_mounts
}

# Device nodes: the guest's own disk (what a hostile image would plant) in the rootfs, and
# the disk and null in /disk/nodes, which the container gets bind-mounted (no nodev there).
# The guest, under no device filter, reads the disk through the planted node (the control);
# the container, under its cgroup's eBPF filter, must not.
scenario_devices_of() {
  name=$1
  vda="b $((0x$(stat -c %t /dev/vda))) $((0x$(stat -c %T /dev/vda)))"
  mkdir -p "$R/image" /disk/nodes
  [ -e "$R/image/vda" ] || mknod -m 666 "$R/image/vda" $vda
  [ -e /disk/nodes/vda ] || mknod -m 666 /disk/nodes/vda $vda
  [ -e /disk/nodes/null ] || mknod -m 666 /disk/nodes/null c 1 3
  guest_bytes=$(head -c 16 /disk/nodes/vda | wc -c)
  $SN run -b $B/$name $name > $LOG/$name.out 2>&1 &
  sn=$!
  wait_for $sn 30
  printf 'RESULT {"scenario":"%s","exitCode":%s,"guestReadBytes":%s,"output":%s}\n' \
    "$name" "$rc" "$guest_bytes" "$(jsfile $LOG/$name.out)"
}
# The container's view of its own cgroup: the guest makes a bait cgroup beside the
# container's (under the same parent) and shows, as the control, that its limits are
# writable from outside; the container must not see the bait nor write its own limits.
scenario_cgroupView() {
  cg=$(cgroup_of cgroupView)
  bait="$CG$(dirname "$cg")/lc-bait"
  mkdir -p "$bait"
  # memory.max exists in the bait once its ancestors delegate memory (as the launcher does).
  echo +memory > $CG/cgroup.subtree_control
  echo +memory > "$(dirname "$bait")/cgroup.subtree_control"
  guest_write=false; echo 1048576 > "$bait/memory.max" 2>/dev/null && [ "$(cat "$bait/memory.max")" = 1048576 ] && guest_write=true
  $SN run -b $B/cgroupView cgroupView > $LOG/cgroupView.out 2>&1 &
  sn=$!
  wait_for $sn 30
  rmdir "$bait"
  printf 'RESULT {"scenario":"cgroupView","exitCode":%s,"guestWrite":%s,"output":%s}\n' \
    "$rc" $guest_write "$(jsfile $LOG/cgroupView.out)"
}

scenario_devices() { scenario_devices_of devices; }
scenario_devicesFloor() { scenario_devices_of devicesFloor; }

for s in basic memory pids cpu timeout pause devices devicesFloor cgroupView overlay; do
  selected $s || continue
  t=$(now_ms)
  scenario_$s
  echo "SCENARIO-TIME $s $(($(now_ms) - t))ms"
done

# Nothing may be left behind: no container cgroup, no launcher state, and no process
# running as a container uid (every range starts at 100000, see bundles.ts).
stray=$(awk '$1 == "Uid:" && $2 >= 100000 { n++ } END { print n + 0 }' /proc/[0-9]*/status 2>/dev/null)
printf 'RESULT {"scenario":"leftovers","cgroups":%s,"states":%s,"containerUidProcs":%s}\n' \
  "$(js "$(find $CG -mindepth 1 -type d | sed "s:^$CG::")")" "$(js "$($SN list)")" "$stray"

finish
