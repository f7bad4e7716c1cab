// What a crashed engine leaves on its host, removed at start-up (and on demand, by tests and the
// command line): launcher states whose monitor died, cgroups nobody will remove, mounts under the
// data root, half-written layers and scratch dirs, and id-range locks of dead processes.
//
// It must never touch a live container. A detached container lives under its own launcher
// monitor (worker/README.md), so "live" is decided by that monitor's pid *and* start time (pids
// are reused), never by whether a worker is running. Each step is safe to run while other
// processes of this host work, and running it twice does nothing the second time.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readdir, readFile, rmdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { pino, type Logger } from 'pino';
import { enginePaths } from './config.js';
import { ImageStore } from './image-store/index.js';
import { mountsBelow } from './image-store/mounts.js';
import { processAlive, tmpOwnerPid } from './image-store/paths.js';
import { IdRangeAllocator } from './runtime/id-ranges.js';

const execFileP = promisify(execFile);

export interface HostCleanupOptions {
  dataDir: string;
  /** sandbox-native, for `delete --force` of dead containers' states. */
  launcher: string;
  /** cgroup parents the launcher creates containers under (cgroupsPath `/<parent>/<id>`). */
  cgroupParents?: readonly string[];
  /** Where cgroup hierarchies are mounted (a test may point elsewhere only to read). */
  cgroupRoot?: string;
  /**
   * An empty cgroup no state of ours names is removed only when it is this old: a launcher of
   * another state root (a test, the CLI) may have just made it and be about to move a process in.
   */
  orphanCgroupAgeMs?: number;
  log?: Logger;
}

export interface HostCleanupReport {
  /** Container ids whose launcher state was deleted (monitor dead). */
  launcherStates: string[];
  /** cgroup directories removed. */
  cgroups: string[];
  /** Mount points detached under the data root. */
  mounts: string[];
  /** What the image store removed (tmp/ of dead processes, incomplete layers and images). */
  store: string[];
  /** Id-range locks released (owner process gone). */
  idRanges: string[];
}

/** What the launcher's `state` says (public fields and its monitorPid extension). */
interface LauncherState {
  id: string;
  status?: string;
  /** The live monitor's pid, checked by the launcher against its start time; 0 once it is gone. */
  monitorPid?: number;
  finished?: string;
  bundle?: string;
}

const monitorAlive = (state: LauncherState): boolean => !!state.monitorPid && state.monitorPid > 0;

async function readStates(launcher: string, stateRoot: string): Promise<LauncherState[]> {
  const states: LauncherState[] = [];
  for (const name of await readdir(stateRoot).catch(() => [] as string[])) {
    if (name.startsWith('.')) continue; // .seccomp-cache and the launcher's own files
    try {
      const { stdout } = await execFileP(launcher, ['--root', stateRoot, 'state', name]);
      states.push({ ...(JSON.parse(stdout) as LauncherState), id: name });
    } catch {
      // No state yet: a `create` in progress writes it within milliseconds; a crashed one
      // never will. `delete --force` copes with both, but only the second should be touched.
      const since = await stat(join(stateRoot, name)).then((s) => Date.now() - s.mtimeMs, () => 0);
      if (since > 60_000) states.push({ id: name });
    }
  }
  return states;
}

/**
 * A container is the crash's when its bundle is a scratch dir of a dead process (a build step:
 * it must not outlive its build, even if its launcher did), or when its monitor is dead and it
 * is not a learner's finished container (those stay, for `ps -a`, until the learner removes them).
 */
function isCrashed(state: LauncherState, paths: ReturnType<typeof enginePaths>): boolean {
  const scratch = `${paths.store}/tmp/`;
  if (state.bundle?.startsWith(scratch)) {
    const owner = tmpOwnerPid(state.bundle.slice(scratch.length).split('/')[0]!);
    if (owner !== null && !processAlive(owner)) return true;
  }
  if (monitorAlive(state)) return false;
  const finished = state.status === 'stopped' && !!state.finished;
  return !finished || !existsSync(join(paths.containers, state.id));
}

async function cgroupHierarchies(root: string): Promise<string[]> {
  // Pure v2: the parents sit at the root. v1 (+ hybrid): one directory per controller, and
  // `unified` for the v2 tree beside them.
  if (existsSync(join(root, 'cgroup.controllers'))) return [root];
  const out: string[] = [];
  for (const name of await readdir(root).catch(() => [] as string[])) {
    const dir = join(root, name);
    if (existsSync(join(dir, 'cgroup.procs'))) out.push(dir);
  }
  return out;
}

async function cgroupIsEmpty(dir: string): Promise<boolean> {
  const procs = await readFile(join(dir, 'cgroup.procs'), 'utf8').catch(() => null);
  return procs !== null && procs.trim() === '';
}

async function removeCgroups(options: Required<Pick<HostCleanupOptions, 'cgroupRoot' | 'orphanCgroupAgeMs'>> & {
  parents: readonly string[];
  live: Set<string>;
  crashed: Set<string>;
  log: Logger;
}): Promise<string[]> {
  const removed: string[] = [];
  for (const hierarchy of await cgroupHierarchies(options.cgroupRoot)) {
    for (const parent of options.parents) {
      const parentDir = join(hierarchy, parent);
      for (const entry of await readdir(parentDir, { withFileTypes: true }).catch(() => [])) {
        if (!entry.isDirectory() || options.live.has(entry.name)) continue;
        const dir = join(parentDir, entry.name);
        if (!(await cgroupIsEmpty(dir))) continue; // someone's processes: never ours to remove
        const age = await stat(dir).then((s) => Date.now() - s.mtimeMs, () => 0);
        if (!options.crashed.has(entry.name) && age < options.orphanCgroupAgeMs) continue;
        try {
          await rmdir(dir);
          removed.push(dir);
        } catch (err) {
          // EBUSY: a process moved in after we looked, so it is alive after all.
          const code = (err as NodeJS.ErrnoException).code;
          if (code !== 'EBUSY' && code !== 'ENOENT') options.log.warn({ err, dir }, 'could not remove cgroup');
        }
      }
    }
  }
  return removed;
}

/** Mounts below the data root that no live container or process owns. */
async function detachStrayMounts(dataDir: string, live: Set<string>, log: Logger): Promise<string[]> {
  const paths = enginePaths(dataDir);
  const detached: string[] = [];
  for (const mountPoint of await mountsBelow(dataDir)) {
    if (mountPoint === dataDir) continue; // the data filesystem itself (npm start mounts it)
    // Scratch dirs belong to their process; the store's cleanup handles those of dead ones.
    if (mountPoint.startsWith(`${paths.store}/tmp/`)) continue;
    const inContainer = mountPoint.startsWith(`${paths.containers}/`) ? mountPoint.slice(paths.containers.length + 1).split('/')[0]! : null;
    if (inContainer !== null && live.has(inContainer)) continue;
    try {
      await execFileP('umount', ['-l', mountPoint]);
      detached.push(mountPoint);
    } catch (err) {
      log.warn({ err, mountPoint }, 'could not detach a stray mount');
    }
  }
  return detached;
}

export async function cleanupHost(options: HostCleanupOptions): Promise<HostCleanupReport> {
  const log = options.log ?? pino({ name: 'host-cleanup', level: 'warn' });
  const paths = enginePaths(options.dataDir);
  const report: HostCleanupReport = { launcherStates: [], cgroups: [], mounts: [], store: [], idRanges: [] };

  // 1. Launcher states. `delete --force` kills whatever is left of the container (its whole
  //    cgroup) and removes the cgroup and the state, as the dead monitor would have.
  const states = await readStates(options.launcher, paths.launcherState);
  const live = new Set<string>();
  const crashed = new Set<string>();
  for (const state of states) {
    if (!isCrashed(state, paths)) {
      if (monitorAlive(state)) live.add(state.id);
      continue;
    }
    crashed.add(state.id);
    try {
      await execFileP(options.launcher, ['--root', paths.launcherState, 'delete', '--force', state.id]);
      report.launcherStates.push(state.id);
    } catch (err) {
      log.warn({ err, container: state.id }, 'could not delete a dead container’s launcher state');
    }
  }

  // 2. cgroups the launcher could not remove (it was killed before it got to them).
  report.cgroups = await removeCgroups({
    cgroupRoot: options.cgroupRoot ?? '/sys/fs/cgroup',
    parents: options.cgroupParents ?? ['layercake'],
    orphanCgroupAgeMs: options.orphanCgroupAgeMs ?? 60_000,
    live,
    crashed,
    log,
  });

  // 3. Mounts under the data root, then 4. the store's half-written work (which also unmounts
  //    anything inside a dead process's scratch dir before removing it).
  report.mounts = await detachStrayMounts(options.dataDir, live, log);
  if (existsSync(paths.store)) {
    const store = await ImageStore.open(paths.store, { logger: log });
    report.store = (await store.cleanup()).removed;
  }

  // 5. Id ranges held by processes that are gone (a live container's monitor keeps its own).
  const idRanges = new IdRangeAllocator({ dir: paths.idRanges });
  for (const lease of idRanges.leases()) {
    if (lease.alive) continue;
    idRanges.release(lease);
    report.idRanges.push(`${lease.index} (${lease.containerId})`);
  }

  const total = Object.values(report).reduce((n, list) => n + list.length, 0);
  if (total > 0) log.info({ step: 'host-cleanup', ...report }, 'removed what a crashed engine left');
  return report;
}
