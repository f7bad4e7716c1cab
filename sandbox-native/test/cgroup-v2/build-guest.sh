#!/usr/bin/env bash
# Build what the cgroup v2 guest boots with, into OUT:
#   OUT/vmlinuz          Debian 12's kernel (from scripts/guest-kernel.sh's cache)
#   OUT/initramfs.cpio   busybox, the static sandbox-native, the kernel modules, /init
#   OUT/disk.img         ext4: a busybox rootfs, overlay layers, and the bundles in BUNDLES
# Usage: build-guest.sh OUT BUNDLES
# Everything is rebuilt each time (about a second): the guest must run the launcher binary
# that is in the tree now, and scenarios write into the disk.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../../.." && pwd)"
mkdir -p "$1"
out="$(cd "$1" && pwd)"
bundles="$(cd "$2" && pwd)"
# SANDBOX_NATIVE_BIN: boot another build of the launcher (e.g. a candidate fix) instead.
launcher="${SANDBOX_NATIVE_BIN:-$repo/sandbox-native/build/sandbox-native}"
busybox=/bin/busybox   # Debian's busybox-static: no libraries to carry along
say() { printf '[cgroup-v2 guest] %s\n' "$*" >&2; }

[ -x "$launcher" ] || { say "no $launcher: run make -C sandbox-native"; exit 1; }
[ -x "$busybox" ] || { say "no $busybox: install busybox-static"; exit 1; }

kernel="$(bash "$repo/scripts/guest-kernel.sh")"
config="$kernel/config"

# ---- which kernel features are modules ---------------------------------------------------
# What the test needs from the kernel. The cgroup controllers must be built in (a module
# cannot provide them); filesystems and drivers may be either, and Debian builds them as
# modules, which the guest then has to load itself.
for opt in CGROUPS MEMCG CGROUP_PIDS CGROUP_FREEZER CFS_BANDWIDTH USER_NS DEVTMPFS BLK_DEV_INITRD SERIAL_8250_CONSOLE; do
  grep -qx "CONFIG_$opt=y" "$config" || { say "kernel $(basename "$kernel") lacks built-in CONFIG_$opt"; exit 1; }
done
declare -A module_of=(
  [EXT4_FS]=ext4 [OVERLAY_FS]=overlay [VIRTIO_PCI]=virtio_pci [VIRTIO_BLK]=virtio_blk
  # ext4's metadata checksums ask the crypto API for "crc32c" at mount time, by name: no
  # module dependency says so, and the guest has no modprobe database to find it.
  [CRYPTO_CRC32C]=crc32c_generic
)
wanted=()
for opt in EXT4_FS OVERLAY_FS VIRTIO_PCI VIRTIO_BLK CRYPTO_CRC32C; do
  case "$(grep -E "^CONFIG_$opt=" "$config" | cut -d= -f2)" in
    y) ;;
    m) wanted+=("${module_of[$opt]}") ;;
    *) say "kernel $(basename "$kernel") has no CONFIG_$opt"; exit 1 ;;
  esac
done

# A module's dependencies are in its .modinfo section as "depends=a,b" (the package has no
# modules.dep: depmod makes that at install time, which we skip).
declare -A path_of=() loaded=()
while IFS= read -r f; do
  name="$(basename "$f" .ko)"
  path_of[${name//-/_}]="$f"
done < <(find "$kernel/modules" -name '*.ko')
order=()
add_module() {
  local name="${1//-/_}" dep
  [ -n "${loaded[$name]:-}" ] && return 0
  [ -n "${path_of[$name]:-}" ] || { say "module $name is not in the unpacked kernel (scripts/guest-kernel.sh's list)"; exit 1; }
  loaded[$name]=1
  for dep in $(grep -a -o -m1 'depends=[A-Za-z0-9_,-]*' "${path_of[$name]}" | head -n1 | cut -d= -f2 | tr , ' '); do
    add_module "$dep"
  done
  order+=("$name")   # after its dependencies: the order insmod needs
}
for m in "${wanted[@]}"; do add_module "$m"; done

# ---- initramfs -------------------------------------------------------------------------------
rm -rf "$out/initramfs" "$out/disk"
mkdir -p "$out/initramfs"/{bin,sbin,lib/modules,dev,proc,sys,run,tmp,disk}
cd "$out/initramfs"
cp "$busybox" bin/busybox
ln -s busybox bin/sh
# The kernel opens /dev/console for init's stdin/out/err before /init runs, and before
# anything could mount devtmpfs: without this node the console would be silent.
mknod -m 600 dev/console c 5 1
strip -o sbin/sandbox-native "$launcher"   # debug info is most of its size
install -m 755 "$here/guest-init.sh" init
for m in "${order[@]}"; do cp "${path_of[$m]}" "lib/modules/$m.ko"; done
printf '%s\n' "${order[@]}" > lib/modules/load-order
# Uncompressed: qemu loads it straight into memory, and the emulated CPU would spend
# longer unpacking a compressed one than the host saves reading a smaller file.
find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet > "$out/initramfs.cpio"
cd - > /dev/null
cp "$kernel/vmlinuz" "$out/vmlinuz"

# ---- disk -------------------------------------------------------------------------------------
disk="$out/disk"
mkdir -p "$disk/rootfs"/{bin,sbin,usr/bin,usr/sbin,etc,proc,dev,sys,tmp,root,mnt}
chmod 1777 "$disk/rootfs/tmp"
cp "$busybox" "$disk/rootfs/bin/busybox"
# Every applet as a symlink to /bin/busybox, at the path busybox itself names.
"$busybox" --list-full | while read -r applet; do
  [ "$applet" = bin/busybox ] || [ -e "$disk/rootfs/$applet" ] || ln -s /bin/busybox "$disk/rootfs/$applet"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' > "$disk/rootfs/etc/passwd"
printf 'root:x:0:\ntty:x:5:\nnogroup:x:65534:\n' > "$disk/rootfs/etc/group"
# Overlay scenario: a top layer over the rootfs, an empty root.path for the launcher to mount
# on, and a writable layer whose upper/ the guest inspects afterwards.
mkdir -p "$disk/overlay/top/etc" "$disk/overlay/root" "$disk/overlay/container/upper" "$disk/overlay/container/work"
echo 'from the top layer' > "$disk/overlay/top/etc/layer.txt"
cp -r "$bundles" "$disk/bundles"
rm -f "$out/disk.img"
truncate -s 64M "$out/disk.img"
# mkfs.ext4 -d fills the filesystem from the directory: no loop mount on the host. Owners are
# taken from the files, so everything is uid 0, the container's root once idmapped.
mkfs.ext4 -q -F -L layercake -d "$disk" "$out/disk.img"
rm -rf "$disk" "$out/initramfs"
