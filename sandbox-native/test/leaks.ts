// What a test container can leave behind on the host, and how to find it: mounts that
// name a test path, cgroup directories named for a test container, processes running
// with a test uid, id-range locks and state directories nobody owns any more.
//
// Everything is judged by ownership: a lock or state root whose owning process still
// lives belongs to a test that is running (perhaps in a concurrent run) and is left alone.

import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, rmSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import { IdRangeAllocator } from '../../worker/src/runtime/id-ranges.js';
import {
  BUNDLES_DIR,
  ID_RANGE_DIR,
  RUNC_BIN,
  SANDBOX_NATIVE_BIN,
  TEST_ID_BASE,
  TEST_ID_END,
  TEST_ID_PREFIX,
  TEST_ID_RANGES,
  TEST_ID_SIZE,
  TEST_ROOT,
} from './paths.js';

export const testIdRanges = (): IdRangeAllocator =>
  new IdRangeAllocator({ dir: ID_RANGE_DIR, baseId: TEST_ID_BASE, size: TEST_ID_SIZE, maxRanges: TEST_ID_RANGES });

export interface HostProcess {
  pid: number;
  uid: number;
  state: string;
  cmd: string;
}

/** Processes whose real or effective uid lies in [lo, hi). */
export function processesInRange(lo: number, hi: number): HostProcess[] {
  const found: HostProcess[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    let status: string;
    try {
      status = readFileSync(`/proc/${name}/status`, 'utf8');
    } catch {
      continue; // exited while we looked
    }
    const uids = /^Uid:\s+(\d+)\s+(\d+)/m.exec(status);
    if (!uids) continue;
    const uid = [Number(uids[1]), Number(uids[2])].find((u) => u >= lo && u < hi);
    if (uid === undefined) continue;
    const state = /^State:\s+(\S)/m.exec(status)?.[1] ?? '?';
    const cmd = /^Name:\s+(.*)$/m.exec(status)?.[1] ?? '?';
    found.push({ pid: Number(name), uid, state, cmd });
  }
  return found;
}

export interface HostMount {
  line: string;
  mountPoint: string;
  root: string;
}

export function hostMounts(): HostMount[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const f = line.split(' ');
      return { line, root: unescapeMountinfo(f[3] ?? ''), mountPoint: unescapeMountinfo(f[4] ?? '') };
    });
}

// mountinfo escapes space, tab, newline and backslash as octal.
function unescapeMountinfo(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

/** Host mounts whose mount point lies under `path`. */
export function mountsUnder(path: string): HostMount[] {
  return hostMounts().filter((m) => m.mountPoint === path || m.mountPoint.startsWith(path + '/'));
}

/** Every cgroup directory (v1 controllers and the unified tree) named for container `id`. */
export function cgroupDirsFor(id: string): string[] {
  const dirs: string[] = [];
  for (const hierarchy of readdirSync('/sys/fs/cgroup')) {
    const dir = join('/sys/fs/cgroup', hierarchy, 'layercake', id);
    if (existsSync(dir)) dirs.push(dir);
  }
  return dirs;
}

/** Test container cgroup directories: /sys/fs/cgroup/<h>/layercake/t-*. */
function testCgroupDirs(): { id: string; dir: string }[] {
  const out: { id: string; dir: string }[] = [];
  for (const hierarchy of readdirSync('/sys/fs/cgroup')) {
    const parent = join('/sys/fs/cgroup', hierarchy, 'layercake');
    let names: string[] = [];
    try {
      names = readdirSync(parent);
    } catch {
      continue;
    }
    for (const id of names.filter((n) => n.startsWith(TEST_ID_PREFIX))) out.push({ id, dir: join(parent, id) });
  }
  return out;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Per-test state roots: <TEST_ROOT>/<runtime>/<ownerPid>-<n>. */
function stateRoots(): { runtime: string; dir: string; ownerPid: number }[] {
  const out: { runtime: string; dir: string; ownerPid: number }[] = [];
  for (const runtime of ['sandbox-native', 'runc']) {
    const parent = join(TEST_ROOT, runtime);
    let names: string[] = [];
    try {
      names = readdirSync(parent);
    } catch {
      continue;
    }
    for (const name of names) {
      const m = /^(\d+)-\d+$/.exec(name);
      if (m) out.push({ runtime, dir: join(parent, name), ownerPid: Number(m[1]) });
    }
  }
  return out;
}

interface Ownership {
  liveIds: Set<string>;
  owned: (uid: number) => boolean;
}

// Ownership must be read AFTER listing what is on the host: the harness takes a lease
// before it creates anything under it, so everything listed earlier whose test still runs
// is covered by a lease read later. Read it first, and a container a concurrent run starts
// in between would look ownerless and be swept from under that run.
function liveOwnership(): Ownership {
  const leases = testIdRanges().leases().filter((l) => l.alive);
  const ranges = leases.map((l) => ({ lo: l.hostId, hi: l.hostId + l.size }));
  return {
    liveIds: new Set(leases.map((l) => l.containerId)),
    owned: (uid) => ranges.some((r) => uid >= r.lo && uid < r.hi),
  };
}

function listBundles(): string[] {
  try {
    return readdirSync(BUNDLES_DIR);
  } catch {
    return [];
  }
}

/** What is on the host now, before anyone's ownership is looked at. */
function inventory() {
  return {
    mounts: mountsUnder(TEST_ROOT),
    bundleMounts: hostMounts().filter((h) => h.root.startsWith(BUNDLES_DIR)),
    cgroups: testCgroupDirs(),
    processes: processesInRange(TEST_ID_BASE, TEST_ID_END),
    stateRoots: stateRoots(),
    bundles: listBundles(),
  };
}

/** Anything the suite left behind that no running test owns, described one per line. */
export async function findLeaks(): Promise<string[]> {
  const found = inventory();
  const { liveIds, owned } = liveOwnership();
  const leaks: string[] = [];
  for (const m of found.mounts) leaks.push(`mount: ${m.line}`);
  for (const m of found.bundleMounts) leaks.push(`mount of a bundle: ${m.line}`);
  for (const { id, dir } of found.cgroups) if (!liveIds.has(id) && existsSync(dir)) leaks.push(`cgroup: ${dir}`);
  for (const p of found.processes) {
    if (!owned(p.uid) && existsSync(`/proc/${p.pid}`)) leaks.push(`process: pid ${p.pid} uid ${p.uid} state ${p.state} ${p.cmd}`);
  }
  for (const lease of testIdRanges().leases()) {
    if (!lease.alive) leaks.push(`id range ${lease.hostId} still locked for ${lease.containerId} (owner ${lease.ownerPid} gone)`);
  }
  for (const root of found.stateRoots) if (!pidAlive(root.ownerPid) && existsSync(root.dir)) leaks.push(`state root: ${root.dir}`);
  for (const id of found.bundles) {
    if (!liveIds.has(id) && existsSync(join(BUNDLES_DIR, id))) leaks.push(`bundle: ${join(BUNDLES_DIR, id)}`);
  }
  return leaks;
}

function runtimeBin(runtime: string): string {
  return runtime === 'runc' ? RUNC_BIN : SANDBOX_NATIVE_BIN;
}

/**
 * Remove what findLeaks would report: containers in dead state roots, processes in test
 * ranges nobody owns, their cgroups, bundles and locks. Used before a run (a killed
 * earlier run) and after a failed leak check, so one failure does not cascade. A
 * concurrent run's live containers are left alone (see liveOwnership).
 */
export async function sweepLeftovers(): Promise<void> {
  const found = inventory();
  const { liveIds, owned } = liveOwnership();
  for (const root of found.stateRoots) {
    if (pidAlive(root.ownerPid)) continue;
    const bin = runtimeBin(root.runtime);
    if (existsSync(bin)) {
      for (const id of readdirSync(root.dir).filter((n) => n.startsWith(TEST_ID_PREFIX))) {
        try {
          execFileSync(bin, ['--root', root.dir, 'delete', '--force', id], { stdio: 'ignore', timeout: 10_000 });
        } catch {
          // already gone, or the runtime cannot say; the steps below still clean up
        }
      }
    }
    rmSync(root.dir, { recursive: true, force: true });
  }
  for (const p of found.processes) {
    if (owned(p.uid)) continue;
    try {
      process.kill(p.pid, 'SIGKILL'); // a test container's process, identified by its test uid
    } catch {
      // exited meanwhile
    }
  }
  await new Promise((r) => setTimeout(r, 200));
  for (const { id, dir } of found.cgroups) {
    if (liveIds.has(id)) continue;
    try {
      rmdirSync(dir);
    } catch {
      // still populated (a process in D state) or already gone
    }
  }
  for (const m of [...found.mounts].reverse()) {
    try {
      execFileSync('umount', ['-l', m.mountPoint], { stdio: 'ignore' });
    } catch {
      // gone already
    }
  }
  for (const lease of testIdRanges().leases()) if (!lease.alive) testIdRanges().release(lease);
  for (const id of found.bundles) if (!liveIds.has(id)) rmSync(join(BUNDLES_DIR, id), { recursive: true, force: true });
}
