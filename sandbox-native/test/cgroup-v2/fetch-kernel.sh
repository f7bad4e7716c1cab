#!/usr/bin/env bash
# Fetch Debian 12's own kernel for the cgroup v2 guest, without installing it: the host's
# /boot and module tree stay untouched. Downloads the .deb once into the build cache and
# unpacks only what the guest boots with (vmlinuz, its config, a few module directories).
# Prints the directory holding the unpacked kernel.
#
# The version comes from linux-image-amd64's dependency in the local apt lists, so the
# guest runs the kernel Debian ships today; a cache for that exact package is reused.
# When apt cannot download (offline) an earlier cached kernel is used instead, said so
# on stderr.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cache="$here/../../build/qemu"
mkdir -p "$cache/debs" "$cache/kernel"
cache="$(cd "$cache" && pwd)"
say() { printf '[cgroup-v2 kernel] %s\n' "$*" >&2; }

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
# Only the kernel, its config and the module directories the guest may load: the whole
# tree is 400 MB, these are a few. Which ones are modules and not built in (ext4, overlay,
# virtio) is read from the config at initramfs build time.
dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$tmp" --wildcards \
  './boot/vmlinuz-*' './boot/config-*' \
  './lib/modules/*/kernel/fs/ext4' './lib/modules/*/kernel/fs/jbd2' './lib/modules/*/kernel/fs/mbcache.ko*' \
  './lib/modules/*/kernel/fs/overlayfs' './lib/modules/*/kernel/lib/crc16.ko*' \
  './lib/modules/*/kernel/crypto/crc32c_generic.ko*' \
  './lib/modules/*/kernel/drivers/virtio' './lib/modules/*/kernel/drivers/block/virtio_blk.ko*'
mv "$tmp/boot/vmlinuz-"* "$tmp/vmlinuz"
mv "$tmp/boot/config-"* "$tmp/config"
mv "$tmp/lib/modules/"*/kernel "$tmp/modules"
rm -rf "$tmp/boot" "$tmp/lib"
touch "$tmp/.complete"
rm -rf "$dir"
mv "$tmp" "$dir"
echo "$dir"
