#!/usr/bin/env bash
# Boot the cgroup v2 guest that build-guest.sh made in DIR; its serial console (the RESULT
# lines) goes to stdout. The guest powers itself off; the timeout ends a hung one.
# Usage: run-guest.sh DIR [TIMEOUT_SECONDS] [EXTRA KERNEL ARGS…]   (e.g. lc.only=overlay)
set -euo pipefail
dir="$1"
limit="${2:-150}"
shift $(($# < 2 ? $# : 2))

# TCG: this host has no KVM, so every guest instruction is translated. -smp 2 still runs
# two vCPU threads (multi-threaded TCG), which the cpu.max scenario needs to mean anything.
# -no-reboot turns the guest's panic=-1 (reboot at once) into qemu exiting: a crashed init
# ends the run instead of booting again. No network, no firmware option ROMs to load.
exec timeout --kill-after=5 "$limit" qemu-system-x86_64 \
  -accel tcg -m 512 -smp 2 \
  -nodefaults -no-user-config -display none -serial stdio -monitor none -no-reboot \
  -kernel "$dir/vmlinuz" -initrd "$dir/initramfs.cpio" \
  -drive "file=$dir/disk.img,format=raw,if=virtio" \
  -append "console=ttyS0 quiet panic=-1 $*"
