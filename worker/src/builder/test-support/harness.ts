// A real builder for tests: a fresh image store in a temp dir with busybox in it, the real
// launcher (sandbox-native) for RUN, and checks that a build left nothing behind — no scratch
// dirs, no running sandboxes, no cgroups, no id ranges, no mounts, no layer without an image.
// Nothing here is mocked.
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readdir, rm, symlink, utimes, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { ensureBaseImage } from '../../base-images/index.js';
import { CollectedEvents } from '../../events.js';
import { chainIdsOf, ImageStore, type Digest } from '../../image-store/index.js';
import { sandboxNative, type ContainerRuntime } from '../../runtime/container-runtime.js';
import { IdRangeAllocator } from '../../runtime/id-ranges.js';
import { SessionImages } from '../../sessions/images.js';
import { Builder, type BuilderOptions, type BuildRequest, type BuildResult } from '../build.js';

const execFileP = promisify(execFile);

export const REPO = new URL('../../../../', import.meta.url).pathname;
export const LAUNCHER = join(REPO, 'sandbox-native/build/sandbox-native');

/** Builder tests' host uid window: far from the product's and the isolation suite's. */
const ID_BASE = 1_800_000_000;
const ID_RANGE_DIR = '/run/layercake-test/builder-id-ranges';

export interface Harness {
  work: string;
  dataDir: string;
  store: ImageStore;
  runtime: ContainerRuntime;
  idRanges: IdRangeAllocator;
  idPrefix: string;
  builder: Builder;
  session: string;
  /** A builder with other limits, sharing everything else. */
  builderWith(options: Partial<BuilderOptions>): Builder;
  /** Writes a build context: files (string content), `dir/` for directories, `-> target` for symlinks. */
  context(files: Record<string, string | { content: string | Buffer; mode?: number; mtime?: number }>): Promise<string>;
  build(dockerfile: string, request?: Partial<BuildRequest> & { context?: string }, builder?: Builder): Promise<Built>;
  /** Builds expecting failure; returns the error and events. */
  buildFails(dockerfile: string, request?: Partial<BuildRequest> & { context?: string }, builder?: Builder): Promise<Failed>;
  /** Runs a shell script with the image's merged root (a real overlay mount) at $ROOT. */
  inImage(imageId: Digest, script: string): Promise<string>;
  /** Everything a build may leave behind; [] when clean. */
  leftovers(): Promise<string[]>;
  close(): Promise<void>;
}

export interface Built extends BuildResult {
  events: CollectedEvents;
}

export interface Failed {
  error: unknown;
  events: CollectedEvents;
}

let contexts = 0;

/** `dataDir`: where the engine's data goes (default: in the harness's temp dir), e.g. on a quota filesystem. */
export async function createHarness(label: string, options: { dataDir?: string } = {}): Promise<Harness> {
  const work = await mkdtemp(join('/tmp', `lc-builder-${label}-`));
  const dataDir = options.dataDir ?? join(work, 'data');
  const store = await ImageStore.open(join(dataDir, 'store'));
  await ensureBaseImage(store, 'busybox');
  const runtime = sandboxNative(LAUNCHER, join(work, 'state'));
  const idRanges = new IdRangeAllocator({ dir: ID_RANGE_DIR, baseId: ID_BASE, maxRanges: 256 });
  const idPrefix = `bt${randomBytes(3).toString('hex')}`;
  const base: BuilderOptions = { store, dataDir, runtime, idRanges, idPrefix };
  const builder = new Builder(base);
  const session = 'learner';

  const harness: Harness = {
    work,
    dataDir,
    store,
    runtime,
    idRanges,
    idPrefix,
    builder,
    session,
    builderWith: (options) => new Builder({ ...base, ...options }),

    async context(files) {
      const dir = join(work, `context-${++contexts}`);
      await mkdir(dir, { recursive: true });
      for (const [path, spec] of Object.entries(files)) {
        const abs = join(dir, path);
        await mkdir(dirname(abs), { recursive: true });
        if (path.endsWith('/')) {
          await mkdir(abs, { recursive: true });
          continue;
        }
        if (typeof spec === 'string' && spec.startsWith('-> ')) {
          await symlink(spec.slice(3), abs);
          continue;
        }
        const file = typeof spec === 'string' ? { content: spec } : spec;
        await writeFile(abs, file.content);
        if (file.mode !== undefined) await chmod(abs, file.mode);
        if (file.mtime !== undefined) await utimes(abs, file.mtime, file.mtime);
      }
      return dir;
    },

    async build(dockerfile, request = {}, using = builder) {
      const events = new CollectedEvents();
      const contextDir = request.context ?? (await harness.context({}));
      const result = await using.build({ session, contextDir, dockerfile, ...request }, events);
      return { ...result, events };
    },

    async buildFails(dockerfile, request = {}, using = builder) {
      const events = new CollectedEvents();
      const contextDir = request.context ?? (await harness.context({}));
      try {
        await using.build({ session, contextDir, dockerfile, ...request }, events);
      } catch (error) {
        return { error, events };
      }
      throw new Error('the build was expected to fail but succeeded');
    },

    async inImage(imageId, script) {
      const layers = await store.layerDirs(imageId);
      const empty = join(work, 'empty-lower');
      const mnt = join(work, 'mnt');
      await mkdir(empty, { recursive: true });
      await mkdir(mnt, { recursive: true });
      // A private mount namespace: the overlay disappears with the shell, whatever happens.
      const lower = [...layers, empty].join(':');
      const { stdout } = await execFileP(
        'unshare',
        ['--mount', '--propagation', 'private', 'sh', '-ec', `mount -t overlay -o ro,lowerdir=${lower} overlay "$ROOT"; ${script}`],
        { env: { ...process.env, ROOT: mnt }, maxBuffer: 64 << 20 },
      );
      return stdout;
    },

    async leftovers() {
      const found: string[] = [];
      const tmp = join(dataDir, 'store', 'tmp');
      for (const name of await readdir(tmp).catch(() => [] as string[])) found.push(`scratch dir ${name}`);
      for (const id of await runtime.list()) found.push(`sandbox ${id}`);
      for (const hierarchy of readdirSync('/sys/fs/cgroup')) {
        const parent = join('/sys/fs/cgroup', hierarchy, 'layercake');
        if (!existsSync(parent)) continue;
        for (const name of readdirSync(parent)) if (name.startsWith(idPrefix)) found.push(`cgroup ${hierarchy}/layercake/${name}`);
      }
      for (const lease of idRanges.leases()) if (lease.containerId.startsWith(idPrefix)) found.push(`id range of ${lease.containerId}`);
      for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
        if (line.split(' ')[4]?.startsWith(work)) found.push(`mount ${line}`);
      }
      const used = new Set<string>();
      for (const image of await store.images()) for (const chainId of chainIdsOf(image.config.rootfs.diff_ids)) used.add(chainId.slice(7));
      for (const name of await readdir(join(dataDir, 'store', 'layers'))) if (!used.has(name)) found.push(`layer ${name} without an image`);
      return found;
    },

    async close() {
      for (const id of await runtime.list()) await runtime.delete(id, true);
      await rm(work, { recursive: true, force: true });
      if (existsSync(work)) throw new Error(`could not remove ${work}`);
    },
  };
  return harness;
}

/** The learner's view of the session's images (to check tags). */
export function sessionOf(h: Harness): SessionImages {
  return new SessionImages(h.store, h.session, h.dataDir);
}

/** Runs a command, resolving with its output (for tests that need a host tool). */
export function run(command: string, args: string[], options: { cwd?: string; input?: string } = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: options.cwd, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
    child.stdin.end(options.input);
  });
}
