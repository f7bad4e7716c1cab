#!/usr/bin/env bash
# Debian 12's own kernel for every guest this project boots under qemu (the cgroup v2 test
# suite, sandbox-native/test/cgroup-v2/, and the engine's VMs, worker/src/vm/), fetched
# without installing it: the host's /boot and module tree stay untouched. Downloads the .deb
# once into .data/guest-kernel/ and unpacks only what a guest boots with (vmlinuz, its config,
# a few module directories). Prints the directory holding the unpacked kernel.
#
# The version comes from linux-image-amd64's dependency in the local apt lists, so the
# guest runs the kernel Debian ships today; a cache for that exact package is reused.
# When apt cannot download (offline) an earlier cached kernel is used instead, said so
# on stderr.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
# LAYERCAKE_GUEST_KERNEL_DIR: another cache (tests keep to the default, which setup fills).
cache="${LAYERCAKE_GUEST_KERNEL_DIR:-$repo/.data/guest-kernel}"
mkdir -p "$cache/debs" "$cache/kernel"
cache="$(cd "$cache" && pwd)"
# World-readable: VMs run qemu as an unprivileged user, which must read the kernel. It is
# Debian's public package, nothing secret.
chmod 755 "$cache" "$cache/kernel"
say() { printf '[guest kernel] %s\n' "$*" >&2; }

# linux-image-amd64 is a metapackage: its one Depends names the real image package.
pkg="$(apt-cache depends linux-image-amd64 2>/dev/null | sed -n 's/^ *Depends: \(linux-image-[0-9].*-amd64\)$/\1/p' | head -n1 || true)"

latest_cached() { ls -1d "$cache"/kernel/linux-image-*/ 2>/dev/null | sort -V | tail -n1 | sed 's:/$::'; }

if [ -z "$pkg" ]; then
  dir="$(latest_cached)"
  [ -n "$dir" ] || { say "apt does not know linux-image-amd64 and nothing is cached"; exit 1; }
  say "apt does not know linux-image-amd64; using cached $(basename "$dir")"
  echo "$dir"; exit 0
fi

dir="$cache/kernel/$pkg"
if [ -f "$dir/.complete" ]; then echo "$dir"; exit 0; fi

deb="$(ls -1 "$cache/debs/${pkg}"_*.deb 2>/dev/null | tail -n1 || true)"
# A checkout that ran the cgroup v2 suite before this cache existed has the .deb there.
legacy="$(ls -1 "$repo/sandbox-native/build/qemu/debs/${pkg}"_*.deb 2>/dev/null | tail -n1 || true)"
if [ -z "$deb" ] && [ -n "$legacy" ]; then
  cp "$legacy" "$cache/debs/"
  deb="$cache/debs/$(basename "$legacy")"
fi
if [ -z "$deb" ]; then
  say "downloading $pkg (about 70 MB, once)"
  # apt-get download writes into the current directory. Its sandbox user _apt cannot write
  # into a root-owned build dir, so apt falls back to root and warns; that is expected.
  if ! (cd "$cache/debs" && apt-get download -qq "$pkg" 2> >(grep -v 'unsandboxed' >&2)); then
    old="$(latest_cached)"
    [ -n "$old" ] || { say "download of $pkg failed and nothing is cached"; exit 1; }
    say "download of $pkg failed; using cached $(basename "$old")"
    echo "$old"; exit 0
  fi
  deb="$(ls -1 "$cache/debs/${pkg}"_*.deb | tail -n1)"
fi

say "unpacking $(basename "$deb")"
tmp="$dir.tmp.$$"
rm -rf "$tmp"
mkdir -p "$tmp"
# Only the kernel, its config and the module directories a guest may load: the whole tree is
# 400 MB, these are a few. Which ones are modules and not built in (ext4, overlay, virtio) is
# read from the config when an initramfs is built (build-guest.sh, worker/src/vm/initramfs.ts).
dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$tmp" --wildcards \
  './boot/vmlinuz-*' './boot/config-*' \
  './lib/modules/*/kernel/fs/ext4' './lib/modules/*/kernel/fs/jbd2' './lib/modules/*/kernel/fs/mbcache.ko*' \
  './lib/modules/*/kernel/fs/overlayfs' './lib/modules/*/kernel/lib/crc16.ko*' \
  './lib/modules/*/kernel/crypto/crc32c_generic.ko*' \
  './lib/modules/*/kernel/drivers/virtio' './lib/modules/*/kernel/drivers/block/virtio_blk.ko*' \
  './lib/modules/*/kernel/drivers/char/virtio_console.ko*'
mv "$tmp/boot/vmlinuz-"* "$tmp/vmlinuz"
mv "$tmp/boot/config-"* "$tmp/config"
mv "$tmp/lib/modules/"*/kernel "$tmp/modules"
rm -rf "$tmp/boot" "$tmp/lib"
chmod -R a+rX "$tmp"
touch "$tmp/.complete"
rm -rf "$dir"
mv "$tmp" "$dir"
echo "$dir"
