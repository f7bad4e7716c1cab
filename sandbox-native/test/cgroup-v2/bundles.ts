// The config.json of every container the cgroup v2 guest runs, made on the host by the
// same spec builder the worker uses in production, so the guest tests what we ship.
// Paths are the guest's: build-guest.sh puts the disk at /disk (see guest-init.sh).
//
// Run directly (`npx tsx bundles.ts DIR`) to write the bundles by hand for debugging.

import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { hardenedSpec, writeBundle, type HardenedSpecOptions, type OciSpec } from '../../../worker/src/runtime/oci-spec.js';

const GUEST_ROOTFS = '/disk/rootfs';
const GUEST_OVERLAY = '/disk/overlay';
const MiB = 1024 * 1024;

/** The limits each scenario sets, so the host test compares readings against them. */
export const LIMITS = Object.freeze({
  memoryBytes: 32 * MiB,
  // dd fills a buffer this big in one read: twice the limit, so only an OOM kill ends it.
  memoryAllocBytes: 64 * MiB,
  pidsMax: 16,
  cpuQuotaMicros: 20_000,
  cpuPeriodMicros: 100_000,
  timeoutMs: 2_000,
  // Backstop for scenarios that the guest ends itself, so a lost kill cannot hang the run.
  backstopTimeoutMs: 30_000,
});

// The container and the guest take turns through marker files: the container says it is
// running (/tmp/NAME.ready, in the rootfs, which the guest reads), then waits until the guest
// has read the cgroup files and handed it /handoff/NAME.go. The hand-off goes through a bind
// mount, not the rootfs: the launcher shows a plain rootfs as an overlay, which keeps the
// container's failed lookup of a name the guest creates later (what Docker users do too: a
// volume, not the container's rootfs).
const HANDOFF_MOUNT = { destination: '/handoff', type: 'bind', source: '/disk/handoff', options: ['rbind', 'ro'] };
function afterGo(name: string, payload: string): Pick<Scenario, 'args' | 'mounts'> {
  return {
    args: ['/bin/sh', '-c', `touch /tmp/${name}.ready; while [ ! -e /handoff/${name}.go ]; do sleep 0.05; done; ${payload}`],
    mounts: [HANDOFF_MOUNT],
  };
}

type Scenario = Omit<HardenedSpecOptions, 'containerId' | 'rootfsPath' | 'idRange'> & {
  rootfsPath?: string;
  /** Raw edits of config.json, for what hardenedSpec would not write. */
  edit?: (spec: OciSpec) => void;
};

// The guest plants device nodes: in the image (image/vda: its own disk) and in a directory
// bind-mounted at /nodes (vda, and null, 1:3), a mount without nodev. The container tries to
// open each and to make one; busybox says why each failed.
const DEVICE_ATTEMPTS =
  'for n in /nodes/vda /nodes/null /image/vda; do head -c 16 $n > /dev/null && echo "$n opened"; done 2>&1; ' +
  'mknod /tmp/devnode b 7 0 2>&1 && echo "mknod made"; true';
const NODES_MOUNT = { destination: '/nodes', type: 'bind', source: '/disk/nodes', options: ['rbind'] };

const scenarios: Record<string, Scenario> = {
  basic: afterGo('basic', 'cat /proc/self/cgroup'),
  memory: {
    memoryBytes: LIMITS.memoryBytes,
    ...afterGo('memory', `exec dd if=/dev/zero of=/dev/null bs=${LIMITS.memoryAllocBytes} count=1`),
  },
  pids: {
    pidsMax: LIMITS.pidsMax,
    timeoutMs: LIMITS.backstopTimeoutMs,
    // Every copy forks copies of itself for ever; a copy whose fork is refused dies, the
    // others go on, so the cgroup stays at its limit until killed. The container's init
    // execs sleep rather than forking it: it must outlive the bomb for the guest to kill.
    ...afterGo('pids', 'bomb() { while :; do bomb & done; }; bomb & exec sleep 1000'),
  },
  cpu: {
    cpuQuotaMicros: LIMITS.cpuQuotaMicros,
    cpuPeriodMicros: LIMITS.cpuPeriodMicros,
    timeoutMs: LIMITS.backstopTimeoutMs,
    ...afterGo('cpu', 'while :; do :; done & while :; do :; done & wait'),
  },
  timeout: {
    timeoutMs: LIMITS.timeoutMs,
    // Two escapees in sessions of their own, then the marker; init sleeps past the limit.
    args: ['/bin/sh', '-c', 'setsid sh -c "sleep 1000" & setsid sleep 1000 & sleep 0.2; touch /tmp/timeout.ready; sleep 1000'],
  },
  pause: {
    timeoutMs: LIMITS.backstopTimeoutMs,
    // Written aside and renamed, so the guest never reads a half-written (empty) counter.
    args: ['/bin/sh', '-c', 'i=0; while :; do i=$((i+1)); echo $i > /tmp/pause.tmp; mv /tmp/pause.tmp /tmp/pause.count; sleep 0.1; done'],
  },
  // The device filter, from hardenedSpec's rules, and with none at all (the launcher's floor).
  devices: { args: ['/bin/sh', '-c', DEVICE_ATTEMPTS], mounts: [NODES_MOUNT] },
  devicesFloor: {
    args: ['/bin/sh', '-c', DEVICE_ATTEMPTS],
    mounts: [NODES_MOUNT],
    edit: (spec) => {
      spec.linux.resources.devices = [];
    },
  },
  // The container's own cgroup at /sys/fs/cgroup (hardenedSpec's cgroup mount: cgroup2 here).
  // It reads its limits, tries to raise one, make a child, and find the guest's bait cgroup
  // (a sibling of its own); busybox says why each write failed.
  cgroupView: {
    memoryBytes: LIMITS.memoryBytes,
    pidsMax: LIMITS.pidsMax,
    args: [
      '/bin/sh',
      '-c',
      'echo "memory.max=$(cat /sys/fs/cgroup/memory.max) pids.max=$(cat /sys/fs/cgroup/pids.max)"; ' +
        'echo max > /sys/fs/cgroup/memory.max; mkdir /sys/fs/cgroup/escape; ' +
        'find /sys/fs/cgroup/ /sys/fs/cgroup/.. -maxdepth 2 -name "lc-bait*"; grep " /sys/fs/cgroup " /proc/self/mountinfo; true',
    ],
  },
  overlay: {
    rootfsPath: `${GUEST_OVERLAY}/root`,
    layers: [`${GUEST_OVERLAY}/top`, GUEST_ROOTFS],
    upperDir: `${GUEST_OVERLAY}/container`,
    args: ['/bin/sh', '-c', 'cat /etc/layer.txt && rm /etc/layer.txt && echo new > /new.txt && ! test -e /etc/layer.txt'],
  },
};

export const SCENARIOS = Object.keys(scenarios);

/** Write `<dir>/<scenario>/config.json` for every scenario; returns the specs by name. */
export function writeBundles(dir: string): Record<string, OciSpec> {
  mkdirSync(dir, { recursive: true });
  const specs: Record<string, OciSpec> = {};
  Object.entries(scenarios).forEach(([name, { rootfsPath, edit, ...options }], i) => {
    const spec = hardenedSpec({
      ...options,
      containerId: name,
      rootfsPath: rootfsPath ?? GUEST_ROOTFS,
      // A distinct range each, as the worker would give them; never host uid 0.
      // cgroupsPath stays the builder's default (/layercake/<id>), what production asks for.
      idRange: { hostId: 100_000 + i * 65_536, size: 65_536 },
    });
    edit?.(spec);
    writeBundle(join(dir, name), spec);
    specs[name] = spec;
  });
  return specs;
}

if (process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href) {
  const dir = process.argv[2];
  if (!dir) throw new Error('usage: bundles.ts DIR');
  writeBundles(dir);
}
