// A real engine for container tests: a data dir in /tmp with its own image store (busybox built
// into it), the real launcher, a cgroup parent and an id-range directory of its own, and a check
// that nothing is left behind — no launcher states or monitors, no cgroups, no id ranges, no
// mounts, no container directories. Nothing here is mocked.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, rmdirSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { pino } from 'pino';
import { ensureBaseImage } from '../../base-images/index.js';
import { enginePaths, REPO_ROOT } from '../../config.js';
import { CollectedEvents } from '../../events.js';
import { ImageStore, type Digest, type RunConfig } from '../../image-store/index.js';
import { SessionImages } from '../../sessions/images.js';
import { sandboxNative, type ContainerRuntime } from '../../runtime/container-runtime.js';
import { IdRangeAllocator } from '../../runtime/id-ranges.js';
import { Containers, type ContainerEngine, type ContainersOptions, type CreateRequest } from '../containers.js';

const execFileP = promisify(execFile);

export const LAUNCHER = join(REPO_ROOT, 'sandbox-native/build/sandbox-native');
/** Container tests' host uid window: apart from the product's and the other suites'. */
const ID_BASE = 1_900_000_000;

export interface Harness {
  work: string;
  dataDir: string;
  store: ImageStore;
  runtime: ContainerRuntime;
  idRanges: IdRangeAllocator;
  cgroupParent: string;
  engine: ContainerEngine;
  /** A Containers (session `learner` unless told) whose events are collected in `.collected`. */
  containers(options?: Partial<ContainersOptions>): Containers & { collected: CollectedEvents };
  /**
   * Runs a container from a separate process that exits right after starting it (like the command
   * line's `run -d`); returns the container's id once that process is gone.
   */
  runDetached(request: CreateRequest, session?: string): Promise<string>;
  /** An image of busybox's layers with `config` as its run config, named `name` in session `learner`. */
  image(name: string, config: RunConfig): Promise<Digest>;
  /** Everything a container may leave behind; [] when clean. */
  leftovers(): Promise<string[]>;
  /** Force-removes every container of every session, then throws if anything is left behind. */
  clean(): Promise<void>;
  /** Removes every container left and checks nothing remains; then the temp dir. */
  close(): Promise<void>;
}

/** Processes whose command line names `needle` (a launcher monitor carries its --root). */
export function processesMentioning(needle: string): number[] {
  const pids: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const cmdline = readFileSync(`/proc/${name}/cmdline`, 'utf8');
      if (cmdline.includes(needle)) pids.push(Number(name));
    } catch {
      // exited while we looked
    }
  }
  return pids;
}

export function cgroupsUnder(parent: string): string[] {
  const found: string[] = [];
  for (const hierarchy of readdirSync('/sys/fs/cgroup')) {
    const dir = join('/sys/fs/cgroup', hierarchy, parent);
    if (!existsSync(dir)) continue;
    for (const entry of readdirSync(dir, { withFileTypes: true })) if (entry.isDirectory()) found.push(`${hierarchy}/${parent}/${entry.name}`);
  }
  return found;
}

/** `dataDir`: where the engine's data goes (default: inside the harness's temp dir). */
export async function createHarness(label: string, options: { dataDir?: string } = {}): Promise<Harness> {
  const work = await mkdtemp(join('/tmp', `lc-ct-${label}-`));
  const dataDir = options.dataDir ?? join(work, 'data');
  const paths = enginePaths(dataDir);
  const store = await ImageStore.open(paths.store);
  await ensureBaseImage(store, 'busybox');
  const runtime = sandboxNative(LAUNCHER, paths.launcherState);
  // A window of its own per harness, so parallel test files never share a range.
  const slot = randomBytes(2).readUInt16BE(0) % 512;
  const idRanges = new IdRangeAllocator({ dir: join(work, 'id-ranges'), baseId: ID_BASE + slot * 64 * 65536, maxRanges: 64 });
  const cgroupParent = `lctest-${randomBytes(4).toString('hex')}`;
  const log = pino({ level: process.env.LAYERCAKE_TEST_LOG ?? 'silent' });
  const engine: ContainerEngine = { dataDir, store, runtime, idRanges, cgroupParent, log };

  const harness: Harness = {
    work,
    dataDir,
    store,
    runtime,
    idRanges,
    cgroupParent,
    engine,
    containers(options = {}) {
      const events = new CollectedEvents();
      const containers = new Containers({ ...engine, session: 'learner', events, ...options });
      return Object.assign(containers, { collected: events });
    },
    async runDetached(request, session = 'learner') {
      const script = join(REPO_ROOT, 'worker/src/containers/test-support/run-detached.ts');
      const args = { dataDir, idRangeDir: idRanges.dir, idRangeBase: idRanges.baseId, cgroupParent, session, request };
      const { stdout } = await execFileP(process.execPath, ['--import', 'tsx', script, JSON.stringify(args)], { cwd: REPO_ROOT });
      return stdout.trim();
    },
    async image(name, config) {
      const base = await store.inspect('busybox:latest');
      const image = await store.createImage({
        ...base.config,
        config: { ...base.config.config, ...config },
        history: [...(base.config.history ?? []), { created_by: `test: ${JSON.stringify(config)}`, empty_layer: true }],
      });
      await new SessionImages(store, 'learner', dataDir).tag(image.id, name);
      return image.id;
    },
    async leftovers() {
      const found: string[] = [];
      for (const name of await readdir(paths.launcherState).catch(() => [] as string[])) {
        if (!name.startsWith('.')) found.push(`launcher state ${name}`);
      }
      for (const pid of processesMentioning(paths.launcherState)) found.push(`launcher process ${pid}`);
      for (const cgroup of cgroupsUnder(cgroupParent)) found.push(`cgroup ${cgroup}`);
      for (const lease of idRanges.leases()) found.push(`id range ${lease.index} (${lease.containerId})`);
      for (const name of await readdir(paths.containers).catch(() => [] as string[])) found.push(`container dir ${name}`);
      for (const name of await readdir(join(paths.store, 'tmp')).catch(() => [] as string[])) found.push(`scratch dir ${name}`);
      for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
        const mountPoint = line.split(' ')[4];
        if (mountPoint?.startsWith(`${work}/`) || mountPoint?.startsWith(`${dataDir}/`)) found.push(`mount ${mountPoint}`);
      }
      return found;
    },
    async clean() {
      for (const name of await readdir(paths.containers).catch(() => [] as string[])) {
        const text = await readFile(join(paths.containers, name, 'container.json'), 'utf8').catch(() => null);
        const session = text ? (JSON.parse(text) as { session: string }).session : 'learner';
        await harness.containers({ session }).remove(name, { force: true }).catch(() => undefined);
      }
      const left = await harness.leftovers();
      if (left.length > 0) throw new Error(`left behind: ${left.join(', ')}`);
    },
    async close() {
      try {
        await harness.clean();
      } finally {
        for (const id of await runtime.list().catch(() => [] as string[])) await runtime.delete(id, true).catch(() => undefined);
        // The parents the launcher made for this harness's cgroups.
        for (const hierarchy of readdirSync('/sys/fs/cgroup')) {
          const dir = join('/sys/fs/cgroup', hierarchy, cgroupParent);
          if (existsSync(dir)) rmdirSync(dir);
        }
        await rm(work, { recursive: true, force: true });
        if (options.dataDir) await rm(options.dataDir, { recursive: true, force: true });
      }
    },
  };
  return harness;
}

/** Polls `check` until it holds (or fails after `ms`). */
export async function eventually<T>(check: () => Promise<T | undefined | false> | T | undefined | false, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > end) throw new Error('timed out waiting for a condition');
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Everything a container has written so far (its log), as text. */
export async function logsOf(c: Containers, ref: string): Promise<string> {
  let text = '';
  for await (const chunk of await c.logs(ref)) text += chunk.data.toString();
  return text;
}

export { execFileP };
