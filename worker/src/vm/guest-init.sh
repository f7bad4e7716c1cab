#!/bin/sh
# /init of a Layercake VM: PID 1 of Debian's kernel, booted by qemu from the initramfs that
# initramfs.ts makes (busybox-static, the modules below, this script, and the run's
# /lc/run.sh). It mounts the image, runs the image's command on the serial console (the
# learner's terminal), and powers off with the command's status.
#
# Two channels, never mixed: the serial console (ttyS0) carries only the command's terminal;
# the control console (hvc0, a virtio console) carries one-line facts for the engine:
#   KERNEL <release> · INIT <uptime s> · READY <uptime s> · EXIT <status> · FATAL <what>
# and, from the engine, RESIZE <rows> <cols>. Everything on it comes from the guest, which the
# learner controls: the engine treats it as the guest's claim (it bounds and checks each line).
bb=/bin/busybox
$bb mount -t proc proc /proc
$bb mount -t sysfs sysfs /sys
$bb mount -t devtmpfs devtmpfs /dev
export PATH=/bin
# lc.debug on the kernel command line: every step of this script on the serial console.
$bb grep -q 'lc.debug' /proc/cmdline && set -x

# Modules in dependency order (initramfs.ts resolved them from the kernel's own modinfo).
# A module's parameters on the kernel command line (qemu puts virtio_mmio.device=… there, one
# per device) are for modprobe to pass on; insmod takes them as arguments.
while read -r mod; do
  $bb insmod "/lib/modules/$mod.ko" $($bb tr ' ' '\n' < /proc/cmdline | $bb sed -n "s/^$mod\.//p")
done < /lib/modules/load-order

wait_dev() { n=0; while [ ! -e "$1" ] && [ $n -lt 200 ]; do $bb sleep 0.01; n=$((n + 1)); done; }
wait_dev /dev/hvc0
[ -c /dev/hvc0 ] || { echo "no control console (virtio-mmio device not found)" >&2; $bb dmesg | $bb tail -n 20 >&2; $bb reboot -f; }
ctl() { echo "$*" > /dev/hvc0; }
$bb stty -F /dev/hvc0 raw -echo
ctl "KERNEL $($bb uname -r)"
ctl "INIT $($bb cut -d' ' -f1 /proc/uptime)"
# Power off: microvm has no ACPI to power off with, so the guest resets (reboot=t, a triple
# fault) and qemu, started with -no-reboot, exits instead of booting again.
off() { $bb sync; echo 0 > /proc/sys/kernel/printk; $bb reboot -f; }
fatal() { ctl "FATAL $*"; off; }

if $bb grep -q 'lc.probe' /proc/cmdline; then ctl "EXIT 0"; off; fi

# The image: an ext4 disk of its layers (read-only), under a tmpfs for this VM's writes; the
# layers themselves are never written, as with a container's overlay.
# The loopback, as a container's own network namespace has it (no other interface exists).
$bb ip link set lo up 2>/dev/null || $bb ifconfig lo 127.0.0.1 up
wait_dev /dev/vda
# A scratch disk (compare's) carries the serial lc-scratch; the image's disk is the other one.
image=/dev/vda scratch=
$bb grep -q 'lc.scratch' /proc/cmdline && wait_dev /dev/vdb
if [ "$($bb cat /sys/block/vda/serial 2>/dev/null)" = lc-scratch ]; then wait_dev /dev/vdb; image=/dev/vdb scratch=vda
elif [ "$($bb cat /sys/block/vdb/serial 2>/dev/null)" = lc-scratch ]; then scratch=vdb; fi
$bb mkdir -p /lower /rw /newroot
$bb mount -t ext4 -o ro $image /lower || fatal "mount the image's disk"
$bb mount -t tmpfs -o mode=755 rw /rw
$bb mkdir -p /rw/upper /rw/work
$bb mount -t overlay -o lowerdir=/lower,upperdir=/rw/upper,workdir=/rw/work overlay /newroot || fatal "mount the image's overlay"
for d in proc sys dev dev/pts tmp; do [ -d /newroot/$d ] || $bb mkdir -p /newroot/$d; done
$bb mount -t proc proc /newroot/proc
$bb mount -t sysfs sysfs /newroot/sys
$bb mount -t devtmpfs devtmpfs /newroot/dev
$bb mkdir -p /newroot/dev/pts
$bb mount -t devpts -o newinstance,ptmxmode=0666 devpts /newroot/dev/pts
[ -n "$scratch" ] && $bb ln -s $scratch /newroot/dev/lc-scratch

# The run: LC_* settings, `set --` with the command, `export` lines (initramfs.ts wrote it).
. /lc/run.sh
$bb hostname "$LC_HOSTNAME"
[ -n "$LC_ROWS" ] && $bb stty -F /dev/ttyS0 rows "$LC_ROWS" cols "$LC_COLS"

# Resizes from the engine: the kernel tells the command's foreground group (SIGWINCH).
( while read -r what rows cols; do
    [ "$what" = RESIZE ] && $bb stty -F /dev/ttyS0 rows "$rows" cols "$cols"
  done < /dev/hvc0 ) &

# The command by its path in the image: Debian's busybox prefers its own applets, so a bare
# name handed to its chroot would run busybox's sh or dd, not the image's.
case "$1" in
  */*) ;;
  *) for d in $(echo "$PATH" | $bb tr ':' ' '); do
       if [ -e "/newroot$d/$1" ] || [ -L "/newroot$d/$1" ]; then c="$d/$1"; shift; set -- "$c" "$@"; break; fi
     done ;;
esac

ctl "READY $($bb cut -d' ' -f1 /proc/uptime)"
# The command's own session with the serial console as its controlling terminal, so a shell
# has job control and Ctrl-C reaches it. chdir happens inside the image (busybox chroot goes to /).
if [ "$LC_WORKDIR" = / ]; then
  $bb setsid -c $bb chroot /newroot "$@" < /dev/ttyS0 > /dev/ttyS0 2>&1
else
  $bb setsid -c $bb chroot /newroot /bin/sh -c 'cd "$0" && exec "$@"' "$LC_WORKDIR" "$@" < /dev/ttyS0 > /dev/ttyS0 2>&1
fi
status=$?
ctl "EXIT $status"
off
