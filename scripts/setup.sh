#!/usr/bin/env bash
# Idempotent setup for a fresh Debian 12 machine (root, Node 20): system packages,
# npm dependencies, the native launcher. Safe to run again; does only what is missing.
# Usage: scripts/setup.sh [--test|--bench|--app]   (--test adds what the test suites need)
# Without a flag (npm start, npm run worker) it also mounts the engine's data filesystem and
# builds the app (only when its sources changed; LAYERCAKE_SKIP_APP_BUILD=1 skips it, for
# `npm run dev`). --app (npm run app): only npm dependencies and the app's build, no root.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '[setup] %s\n' "$*" >&2; }

if [ "${1:-}" = "--app" ]; then
  stamp=node_modules/.layercake-installed
  if [ ! -f "$stamp" ] || [ package-lock.json -nt "$stamp" ] || [ package.json -nt "$stamp" ]; then
    say "installing npm dependencies"
    npm ci --no-audit --no-fund --loglevel=error
    touch "$stamp"
  fi
  npx tsx scripts/build-app.ts
  exit 0
fi

if [ "$(id -u)" != 0 ]; then
  say "Layercake's engine needs root (namespaces, cgroups, overlay mounts). Run as root."
  exit 1
fi

# Everything the product needs at run time, plus what builds the launcher.
packages=(
  build-essential pkg-config libseccomp-dev libjson-c-dev   # sandbox-native
  busybox-static mmdebstrap                                # offline base images
  redis-server                                             # BullMQ's store
  e2fsprogs quota btrfs-progs                              # disk quotas of writable layers (worker/src/disk/disk-quota.ts)
  runc buildah                                             # peers for comparison tests and bench
  qemu-system-x86 cpio sysbench iperf3                     # VMs (worker/src/vm/): qemu, the guest's initramfs, compare's host column
  docker-registry apache2-utils zstd                      # the project registry (htpasswd -B for its service user), zstd layers (worker/src/registry/)
  squid socat                                              # the package-archive proxy, and the door to it inside each container (worker/src/egress/)
)
if [ "${1:-}" = "--test" ] || [ "${1:-}" = "--bench" ]; then
  packages+=(hyperfine)
  # Docker fidelity and registry tests, the pull bench: Debian's Docker on a private socket.
  packages+=(docker.io)
  # Browser tests, e2e and the browser benches drive Debian's Chromium through playwright-core;
  # the CJK fonts draw the Korean pages (and their screenshots) in real glyphs, not boxes.
  packages+=(chromium fonts-noto-cjk)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  say "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # The Debian package may start a system redis; Layercake runs its own private one.
fi

# npm dependencies: install when the lock file is newer than the last install.
stamp=node_modules/.layercake-installed
if [ ! -f "$stamp" ] || [ package-lock.json -nt "$stamp" ] || [ package.json -nt "$stamp" ]; then
  say "installing npm dependencies"
  npm ci --no-audit --no-fund --loglevel=error
  touch "$stamp"
fi

say "building sandbox-native"
make -s -C sandbox-native

# The command line as compiled JavaScript (gitignored worker/dist/, rebuilt only when a source
# changed), and `layercake` on the PATH.
node scripts/build-cli.cjs
ln -sfn "$PWD/worker/cli.cjs" /usr/local/bin/layercake

if [ -z "${1:-}" ]; then
  # A sparse image loop-mounted at the data dir, with quotas; created once, remounted after a reboot.
  npx tsx scripts/data-filesystem.ts
  # The app's production build, when its sources changed since the last one.
  [ -n "${LAYERCAKE_SKIP_APP_BUILD:-}" ] || npx tsx scripts/build-app.ts
fi

# The guests' kernel (VMs, the cgroup v2 suite): Debian's package, downloaded once into
# .data/guest-kernel, never installed into this host's /boot.
bash scripts/guest-kernel.sh > /dev/null
