// RUN --mount (Dockerfile reference, "RUN --mount"): what a step sees at a path while its
// command runs, and never in its layer.
//  - type=cache: a directory of the learner's session that outlives the step (per cache id), so
//    a package manager finds last build's downloads; its contents are no part of the cache key.
//  - type=tmpfs: an empty tmpfs (its pages count against the step's memory limit).
//  - type=bind: files of the build context, a stage or an image; read-only unless `rw`, and then
//    what the command writes there is thrown away. They are copied into the step's scratch dir
//    first, so a bind can never write to the context or to a layer, and the copy's digest is part
//    of the cache key (as BuildKit keys a bind by its content).
//  - type=secret: a value handed to this build (`layercake build --secret`), as a read-only file
//    (default /run/secrets/<id>, mode 0400) and/or an environment variable (`env=`), on a tmpfs the
//    host mounts for the step alone, as BuildKit does: never in the layer, the history, the cache
//    key (its id and options are, its bytes are not: BuildKit does not re-run a step for a new
//    value either), the events or a file of the store. A secret the build was not given is left
//    out (its directory is still made, as BuildKit's stub is), unless `required`.
//  - type=ssh: refused by name (no SSH agent is ever handed to a build here).
// Each mount is an idmapped bind of a host directory (sandbox-native's `idmap` option), so its
// files show the owners they have on disk as container ids, whichever id range the step got.
// The mount point is made in the step's init layer, below the image, so the directory the
// launcher would otherwise create does not land in the layer either (BuildKit removes its stubs).
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmod, chown, mkdir, mkdtemp, readdir, writeFile } from 'node:fs/promises';
import { release as kernelRelease } from 'node:os';
import { join, posix } from 'node:path';
import { promisify } from 'node:util';
import { limitDir } from '../disk/disk-quota.js';
import { removeLayerDir } from '../disk/writable-layer.js';
import type { ExtraMount } from '../runtime/oci-spec.js';
import type { Flag, Instruction } from './parse.js';
import { learnerError, type BuildRuntime, type BuildSecrets } from './step.js';
import { LayeredTree, NotADirectoryError, resolveInTree, SymlinkLoopError, type SourceTree, type TreeEntry } from '../image-store/layered-tree.js';
import { UpperWriter } from '../image-store/upper-writer.js';
import { layerDirsOf } from './image-config.js';
import { fileDigest } from './context.js';

export type RunMount =
  | { type: 'cache'; target: string; id: string; sharing: 'shared' | 'private' | 'locked'; mode: number; uid: number; gid: number; readonly: boolean; where: Flag['where'] }
  | { type: 'tmpfs'; target: string; sizeBytes: number | null; where: Flag['where'] }
  | { type: 'bind'; target: string; from: string | null; source: string; readwrite: boolean; where: Flag['where'] }
  /** target null: only `env` (BuildKit mounts no file when env= is given without a target). */
  | { type: 'secret'; id: string; target: string | null; env: string | null; required: boolean; mode: number; uid: number; gid: number; where: Flag['where'] };

const TYPES = ['bind', 'cache', 'tmpfs', 'secret', 'ssh'] as const;
const SIZE = /^(\d+)([kmgt]?)i?b?$/i;
const UNITS: Record<string, number> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };

/** The key=value options each type accepts (BuildKit's names and aliases). */
const OPTIONS: Record<RunMount['type'], readonly string[]> = {
  bind: ['type', 'target', 'dst', 'destination', 'source', 'src', 'from', 'rw', 'readwrite', 'ro', 'readonly'],
  cache: ['type', 'target', 'dst', 'destination', 'id', 'sharing', 'mode', 'uid', 'gid', 'ro', 'readonly', 'rw', 'readwrite'],
  tmpfs: ['type', 'target', 'dst', 'destination', 'size'],
  // ro/rw are BuildKit's generic options: accepted, and a secret is read-only whatever they say.
  secret: ['type', 'id', 'source', 'src', 'target', 'dst', 'destination', 'env', 'required', 'mode', 'uid', 'gid', 'ro', 'readonly', 'rw', 'readwrite'],
};

/** Most bytes of one secret: BuildKit's MaxSecretSize (500 KiB). */
export const SECRET_MAX_BYTES = 500 * 1024;

function bool(value: string | undefined): boolean | null {
  if (value === undefined || value === '' || value === 'true' || value === '1') return true;
  if (value === 'false' || value === '0') return false;
  return null;
}

/**
 * One `--mount=` flag, values substituted (`expand`), checked as BuildKit checks it. Throws a
 * learner error at the flag for an unknown type or option, a bad value, a missing target, and
 * for what is not done here (secret, ssh, a cache seeded `from` an image).
 */
export function parseMount(flag: Flag, instruction: Instruction, expand: (text: string) => string, workdir = '/'): RunMount {
  return checkMount(flag, instruction, expand, true, workdir)!;
}

/**
 * Before step 1 (check.ts), values not yet substituted: the type, the option names and the
 * target's presence; `values` also checks each value and returns the mount.
 */
export function checkMount(
  flag: Flag,
  instruction: Instruction,
  expand: (text: string) => string = (text) => text,
  values = false,
  workdir = '/',
): RunMount | null {
  const fields = new Map<string, string | undefined>();
  for (const field of (flag.value ?? '').split(',')) {
    if (field === '') continue;
    const eq = field.indexOf('=');
    const key = (eq === -1 ? field : field.slice(0, eq)).toLowerCase();
    fields.set(key, eq === -1 ? undefined : expand(field.slice(eq + 1)));
  }
  const bad = (value: string): never => {
    throw learnerError('build.invalidFlagValue', flag.where, { flag: 'mount', value });
  };
  const type = (fields.get('type') ?? 'bind') as (typeof TYPES)[number];
  if (!TYPES.includes(type)) bad(`type=${type}`);
  if (type === 'ssh') throw learnerError('build.mountSshUnsupported', flag.where);
  if (type === 'cache' && fields.has('from')) {
    throw learnerError('build.featureUnsupported', flag.where, { instruction: instruction.keyword, feature: '--mount=type=cache,from' });
  }
  for (const [key, value] of fields) if (!OPTIONS[type].includes(key)) bad(value === undefined ? key : `${key}=${value}`);
  if (type === 'secret') return checkSecret(fields, flag, values, bad);
  const rawTarget = fields.get('target') ?? fields.get('dst') ?? fields.get('destination');
  if (rawTarget === undefined || rawTarget === '') throw learnerError('build.mountNeedsTarget', flag.where, { type });
  if (!values) return null;
  // A relative target is relative to the step's working directory, as BuildKit takes it.
  const target = posix.normalize(posix.join(workdir, rawTarget)).replace(/(.)\/$/, '$1');
  if (target === '/') bad(`target=${rawTarget}`);
  const flagOf = (names: string[]): boolean | null => {
    for (const name of names) if (fields.has(name)) return bool(fields.get(name)) ?? bad(`${name}=${fields.get(name)}`);
    return null;
  };
  switch (type) {
    case 'tmpfs': {
      const size = fields.get('size');
      const match = size === undefined ? null : SIZE.exec(size);
      if (size !== undefined && match === null) bad(`size=${size}`);
      return { type, target, sizeBytes: match === null ? null : Number(match[1]) * UNITS[match[2]!.toLowerCase()]!, where: flag.where };
    }
    case 'cache': {
      const sharing = fields.get('sharing') ?? 'shared';
      if (sharing !== 'shared' && sharing !== 'private' && sharing !== 'locked') bad(`sharing=${sharing}`);
      const mode = modeOf(fields, 0o755, bad);
      const readonly = flagOf(['ro', 'readonly']) ?? !(flagOf(['rw', 'readwrite']) ?? true);
      const id = fields.get('id') || target;
      return { type, target, id, sharing: sharing as 'shared', mode, uid: idOf(fields, 'uid', bad), gid: idOf(fields, 'gid', bad), readonly, where: flag.where };
    }
    default: {
      const readwrite = flagOf(['rw', 'readwrite']) ?? !(flagOf(['ro', 'readonly']) ?? true);
      return { type: 'bind', target, from: fields.get('from') || null, source: fields.get('source') ?? fields.get('src') ?? '/', readwrite, where: flag.where };
    }
  }
}

type Fields = ReadonlyMap<string, string | undefined>;

function modeOf(fields: Fields, fallback: number, bad: (value: string) => never): number {
  const mode = fields.get('mode');
  if (mode === undefined) return fallback;
  if (!/^[0-7]{1,4}$/.test(mode)) bad(`mode=${mode}`);
  return parseInt(mode, 8);
}

/** uid/gid: a container id (its range has 65536). */
function idOf(fields: Fields, name: string, bad: (value: string) => never): number {
  const value = fields.get(name);
  if (value === undefined) return 0;
  if (!/^\d+$/.test(value) || Number(value) > 65535) bad(`${name}=${value}`);
  return Number(value);
}

/**
 * type=secret, as BuildKit's dockerfile frontend reads it: the id is `id` or `source` (not both),
 * else the target's base name; the file goes to `target`, else /run/secrets/<id> unless only `env`
 * was asked for; `required` alone means true.
 */
function checkSecret(fields: Fields, flag: Flag, values: boolean, bad: (value: string) => never): RunMount | null {
  const named = fields.get('id') ?? fields.get('source') ?? fields.get('src');
  const rawTarget = fields.get('target') ?? fields.get('dst') ?? fields.get('destination');
  if ([fields.get('id'), fields.get('source') ?? fields.get('src')].every((v) => v !== undefined)) bad(`source=${fields.get('source') ?? fields.get('src')}`);
  if (!named && !rawTarget) throw learnerError('build.mountSecretNeedsId', flag.where);
  if (!values) return null;
  const env = fields.get('env') ?? null;
  const id = named || posix.basename(rawTarget!);
  // The default file is named after the id: `.` or `..` would name its directory or above.
  if (!rawTarget && env === null && ['', '.', '..'].includes(posix.basename(id))) bad(`id=${id}`);
  if (env !== null && !/^[A-Za-z_][A-Za-z0-9_]*$/.test(env)) bad(`env=${env}`);
  // BuildKit hands a relative target to the runtime as it is: relative to the root, not WORKDIR.
  const target = rawTarget ? posix.normalize(posix.join('/', rawTarget)) : env === null ? `/run/secrets/${posix.basename(id)}` : null;
  if (target === '/') bad(`target=${rawTarget}`);
  const required = fields.has('required') ? (bool(fields.get('required')) ?? bad(`required=${fields.get('required')}`)) : false;
  return { type: 'secret', id, target, env, required, mode: modeOf(fields, 0o400, bad), uid: idOf(fields, 'uid', bad), gid: idOf(fields, 'gid', bad), where: flag.where };
}

/** Every `--mount` of a RUN, parsed (several are allowed; one target once). */
export function parseMounts(instruction: Instruction, expand: (text: string) => string, workdir: string): RunMount[] {
  const mounts = instruction.flags.filter((f) => f.name === 'mount').map((flag) => parseMount(flag, instruction, expand, workdir));
  const seen = new Set<string>();
  for (const mount of mounts) {
    if (mount.target === null) continue;
    if (seen.has(mount.target)) throw learnerError('build.invalidFlagValue', mount.where, { flag: 'mount', value: `target=${mount.target}` });
    seen.add(mount.target);
  }
  return mounts;
}

/** The session's cache mounts: `<dataDir>/build-mounts/<session>/cache`, one dir per cache id. */
export function cacheMountRoot(dataDir: string, session: string): string {
  return join(dataDir, 'build-mounts', session, 'cache');
}

/** Cache ids in use by a step of this process with sharing=locked (or any, for private). */
const inUse = new Map<string, Promise<void>>();

/** What the step needs for its mounts: spec entries, the cache key part, and a release. */
export interface PreparedMounts {
  mounts: ExtraMount[];
  /** Mount points to make in the step's init layer (absolute, normalized). */
  mountPoints: { path: string; file: boolean }[];
  /** The session's cache dirs this step mounts rw (measured after it, against the quota). */
  caches: string[];
  /** `NAME=value` of the secrets asked for with env=, for the step's environment. */
  env: string[];
  /** The step's private secret dir (a tmpfs where the kernel can idmap one): the bundle goes here when `env` holds a secret. */
  secretDir: string | null;
  release(): Promise<void>;
}

interface PrepareInput {
  mounts: readonly RunMount[];
  stepDir: string;
  /** The session's cache mounts (cacheMountRoot). */
  cacheRoot: string;
  /** Bound on what the session's cache mounts hold, all together (the kernel enforces it where it can). */
  cacheBytes: number;
  memoryBytes: number;
  build: BuildRuntime;
  secrets: BuildSecrets;
}

// Promisified at the first call: reading execFile at import would load child_process (and net)
// into every build, a cached rebuild's too.
let execFilePromise: ((file: string, args: string[]) => Promise<unknown>) | undefined;
const execFileP = (file: string, args: string[]): Promise<unknown> => (execFilePromise ??= promisify(execFile))(file, args);

/** Idmapped mounts of a tmpfs came with Linux 6.3; before it a secret's file goes in the step's private dir. */
function tmpfsIdmaps(): boolean {
  const [major = 0, minor = 0] = kernelRelease().split(/[.-]/).map(Number);
  return major > 6 || (major === 6 && minor >= 3);
}

/**
 * The step's secrets dir: a tmpfs mounted on the host for this step alone (as BuildKit's secret
 * mounts are), so a secret's bytes never reach a disk; mode 0700, root's, no exec. Unmounted by
 * `release`, and detached by the store's scratch clean-up if the process dies first.
 */
async function secretDirOf(stepDir: string, log: BuildRuntime['log']): Promise<string> {
  const dir = join(stepDir, 'secrets');
  await mkdir(dir, { mode: 0o700 });
  if (tmpfsIdmaps()) await execFileP('mount', ['-t', 'tmpfs', '-o', 'size=64m,mode=0700,nosuid,nodev,noexec', 'tmpfs', dir]);
  else log.warn({ dir }, 'this kernel cannot idmap a tmpfs: the step\'s secrets are in its private dir on the data filesystem');
  return dir;
}

/** The spec's `key` part only, without touching the disk: what the cache lookup needs. */
export async function mountsKey(mounts: readonly RunMount[], build: BuildRuntime): Promise<string> {
  const parts: unknown[] = [];
  for (const mount of mounts) {
    if (mount.type !== 'bind') {
      // A secret's id and options, never its bytes (held by nothing here anyway).
      const { where: _where, ...spec } = mount;
      parts.push(spec);
      continue;
    }
    const { tree, id } = await bindTree(mount, build);
    const found = await bindSource(tree, mount);
    parts.push({ type: 'bind', target: mount.target, from: id, source: found.parts, readwrite: mount.readwrite, content: await digestTree(tree, found.parts, found.entry, build.signal) });
  }
  return createHash('sha256').update(JSON.stringify(parts)).digest('hex');
}

async function bindTree(mount: Extract<RunMount, { type: 'bind' }>, build: BuildRuntime): Promise<{ tree: SourceTree; id: string }> {
  if (mount.from === null) return { tree: build.context, id: 'context' };
  const source = await build.copySource(mount.from, mount.where);
  return { tree: new LayeredTree(null, layerDirsOf(source.state, (layer) => build.store.layerDir(layer))), id: source.id };
}

async function bindSource(tree: SourceTree, mount: Extract<RunMount, { type: 'bind' }>): Promise<{ parts: string[]; entry: TreeEntry }> {
  const resolved = await resolveInTree(tree, posix.join('/', mount.source)).catch((err: unknown) => {
    if (err instanceof NotADirectoryError || err instanceof SymlinkLoopError) return null;
    throw err;
  });
  if (resolved?.entry == null || (resolved.entry.kind !== 'file' && resolved.entry.kind !== 'dir')) {
    throw mount.from === null
      ? learnerError('build.mountSourceMissing', mount.where, { source: mount.source })
      : learnerError('build.mountSourceMissingFrom', mount.where, { source: mount.source, from: mount.from });
  }
  return { parts: resolved.parts, entry: resolved.entry };
}

/** Paths, types, permission bits and bytes of a tree (not times or owners, as for COPY): a bind's content as the cache sees it. */
async function digestTree(tree: SourceTree, parts: string[], entry: TreeEntry, signal?: AbortSignal): Promise<string> {
  const hash = createHash('sha256');
  const visit = async (at: string[], node: TreeEntry, rel: string): Promise<void> => {
    signal?.throwIfAborted();
    if (node.kind === 'file') hash.update(`${rel}\0f\0${node.mode.toString(8)}\0${await fileDigest(node)}\n`);
    else if (node.kind === 'symlink') hash.update(`${rel}\0l\0${node.target ?? ''}\n`);
    else if (node.kind === 'dir') {
      hash.update(`${rel}\0d\0${node.mode.toString(8)}\n`);
      for (const name of await tree.children(at)) {
        const child = await tree.lookup([...at, name]);
        if (child !== null) await visit([...at, name], child, `${rel}/${name}`);
      }
    }
  };
  await visit(parts, entry, '.');
  return hash.digest('hex');
}

/** Copies a bind's source into the step's scratch dir (a file or a directory's contents). */
async function copyBind(tree: SourceTree, from: string[], entry: TreeEntry, dest: string, ownersKept: boolean, signal?: AbortSignal): Promise<void> {
  const writer = new UpperWriter(dest, []);
  const attrs = (node: TreeEntry) => ({ mode: node.mode, uid: ownersKept ? node.uid : 0, gid: ownersKept ? node.gid : 0, mtimeMs: node.mtimeMs });
  if (entry.kind === 'file') {
    await writer.writeFile(['file'], entry.hostPath, attrs(entry));
    return;
  }
  const walk = async (at: string[], to: string[]): Promise<void> => {
    for (const name of await tree.children(at)) {
      signal?.throwIfAborted();
      const node = await tree.lookup([...at, name]);
      if (node === null) continue;
      if (node.kind === 'dir') {
        await writer.writeDir([...to, name], { ...attrs(node), mtimeMs: undefined });
        await walk([...at, name], [...to, name]);
        await writer.setTime([...to, name], node.mtimeMs);
      } else if (node.kind === 'file') await writer.writeFile([...to, name], node.hostPath, attrs(node));
      else if (node.kind === 'symlink') await writer.writeSymlink([...to, name], node.target ?? '', attrs(node));
    }
  };
  await mkdir(join(dest, 'dir'));
  await walk(from, ['dir']);
  await chmod(join(dest, 'dir'), entry.mode & 0o7777);
  if (ownersKept) await chown(join(dest, 'dir'), entry.uid, entry.gid);
}

/** Makes each mount's host side; `release` ends the step's hold on its caches. */
export async function prepareMounts(o: PrepareInput): Promise<PreparedMounts> {
  const mounts: ExtraMount[] = [];
  const mountPoints: { path: string; file: boolean }[] = [];
  const releases: (() => void)[] = [];
  const scratch: string[] = [];
  const caches: string[] = [];
  const env: string[] = [];
  let secretDir: string | null = null;
  const base = ['nosuid', 'nodev'];
  const unmountSecrets = async (): Promise<void> => {
    if (secretDir !== null) await execFileP('umount', [secretDir]).catch(() => undefined);
  };
  try {
    let index = 0;
    for (const mount of o.mounts) {
      index++;
      if (mount.type === 'secret') {
        const value = o.secrets.get(mount.id);
        if (value === undefined) {
          // BuildKit: a secret nobody gave is left out (its directory is still there), unless required.
          if (mount.required) throw learnerError('build.secretMissing', mount.where, { id: mount.id });
          if (mount.target !== null) mountPoints.push({ path: posix.dirname(mount.target), file: false });
          continue;
        }
        secretDir ??= await secretDirOf(o.stepDir, o.build.log);
        if (mount.env !== null) env.push(`${mount.env}=${Buffer.from(value).toString('utf8')}`);
        if (mount.target === null) continue;
        const file = join(secretDir, `secret-${index}`);
        await writeFile(file, value, { mode: 0o600, flag: 'wx' });
        // Through the idmapped bind these are the container's ids, whatever range the step gets.
        await chown(file, mount.uid, mount.gid);
        await chmod(file, mount.mode);
        mounts.push({ destination: mount.target, type: 'bind', source: file, options: ['bind', 'idmap', 'ro', ...base, 'noexec'] });
        mountPoints.push({ path: mount.target, file: true });
        continue;
      }
      if (mount.type === 'tmpfs') {
        const size = mount.sizeBytes ?? o.memoryBytes;
        mounts.push({ destination: mount.target, type: 'tmpfs', source: 'tmpfs', options: [...base, `size=${size}`, 'mode=1777'] });
        mountPoints.push({ path: mount.target, file: false });
        continue;
      }
      if (mount.type === 'bind') {
        const { tree, id } = await bindTree(mount, o.build);
        const found = await bindSource(tree, mount);
        const dest = join(o.stepDir, 'mounts', String(index));
        await mkdir(dest, { recursive: true });
        await copyBind(tree, found.parts, found.entry, dest, id !== 'context', o.build.signal);
        const file = found.entry.kind === 'file';
        mounts.push({ destination: mount.target, type: 'bind', source: join(dest, file ? 'file' : 'dir'), options: ['bind', 'idmap', ...base, mount.readwrite ? 'rw' : 'ro'] });
        mountPoints.push({ path: mount.target, file });
        continue;
      }
      // cache
      const root = o.cacheRoot;
      if (!(await readdir(root).then(() => true, () => false))) {
        await mkdir(root, { recursive: true });
        // The whole session's caches under one kernel bound where the data filesystem has quotas.
        await limitDir(root, o.cacheBytes, o.build.log);
      }
      const key = createHash('sha256').update(mount.id).digest('hex').slice(0, 32);
      let dir = join(root, key);
      const busy = inUse.get(`${root}/${key}`);
      if (mount.sharing === 'locked') {
        while (inUse.has(`${root}/${key}`)) await inUse.get(`${root}/${key}`);
      }
      if (mount.sharing === 'private' && busy !== undefined) {
        // In use by another step: this one gets a cache of its own, gone after the step.
        dir = await mkdtemp(join(o.stepDir, 'cache-'));
        scratch.push(dir);
      } else if (mount.sharing !== 'shared') {
        let done!: () => void;
        const held = new Promise<void>((resolve) => (done = resolve));
        const name = `${root}/${key}`;
        inUse.set(name, held);
        releases.push(() => {
          if (inUse.get(name) === held) inUse.delete(name);
          done();
        });
      }
      if (!(await readdir(dir).then(() => true, () => false)) || scratch.includes(dir)) {
        await mkdir(dir, { recursive: true });
        await chown(dir, mount.uid, mount.gid);
        await chmod(dir, mount.mode);
      }
      if (!mount.readonly && !scratch.includes(dir)) caches.push(dir);
      mounts.push({ destination: mount.target, type: 'bind', source: dir, options: ['bind', 'idmap', ...base, mount.readonly ? 'ro' : 'rw'] });
      mountPoints.push({ path: mount.target, file: false });
    }
  } catch (err) {
    for (const release of releases) release();
    await unmountSecrets();
    throw err;
  }
  return {
    mounts,
    mountPoints,
    caches,
    env,
    secretDir,
    release: async () => {
      for (const release of releases) release();
      for (const dir of scratch) await removeLayerDir(dir);
      await unmountSecrets();
    },
  };
}
