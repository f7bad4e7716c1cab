// RUN (shell and exec form) and WORKDIR, the two steps whose layer is made by creating things
// in the image rather than copying them in.
import { posix } from 'node:path';
import { resolveUser } from '../../image-store/image-files.js';
import { DEFAULT_PATH, envMap, layerDirsOf, runConfigOf, shellOf } from '../image-config.js';
import { runText } from '../created-by.js';
import { checkFlags, chompHeredoc, writtenText, type Instruction } from '../parse.js';
import { mountsKey, parseMounts, prepareMounts } from '../run-mounts.js';
import { splitWords } from '../substitution.js';
import { treeBytes } from '../../sessions/quotas.js';
import { removeLayerDir } from '../../disk/writable-layer.js';
import { atLine, learnerError, requireArgs, StepVars, type InstructionHandler, type StepIO } from '../step.js';
import { LayeredTree, NotADirectoryError, resolveInTree, SymlinkLoopError } from '../../image-store/layered-tree.js';
import { UpperWriter } from '../../image-store/upper-writer.js';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export const run: InstructionHandler = async ({ instruction, parent, stage, build }) => {
  // --security and --mount=type=ssh are refused before the build starts (check.ts).
  const network = checkFlags(instruction, ['network', 'mount']).get('network');
  if (network !== undefined && network.value !== 'none' && network.value !== 'default') {
    throw learnerError('build.invalidFlagValue', network.where, { flag: 'network', value: network.value ?? '' });
  }
  requireArgs(instruction);
  const config = structuredClone(runConfigOf(parent));
  const vars = new StepVars(config, stage.args, build.escape, instruction.argsWhere);
  const mounts = parseMounts(instruction, (text) => vars.expand(text), config.WorkingDir || '/');
  const { command, script } = heredocCommand(instruction, build.escape);
  const args = instruction.json ?? [...shellOf(config), command];
  if (args.length === 0) throw learnerError('build.missingArguments', instruction.where, { instruction: 'RUN' });
  // Every declared build argument is in the command's environment, so all of them are part of
  // its identity; BuildKit writes them in front: `RUN |2 A=1 B=2 /bin/sh -c make # buildkit`.
  const runArgs = vars.runArgs();
  // A `#!` script's body is not in the command, so it goes into the key beside it; so do the
  // mounts (a bind's content too, as BuildKit keys it), never a cache mount's contents.
  const extra = [script === null ? null : { script }, mounts.length === 0 ? null : { mounts: await mountsKey(mounts, build) }].filter((x) => x !== null);
  return {
    createdBy: runText(vars.historyArgs(), args),
    cache: { instruction: `RUN ${JSON.stringify(args)}${extra.length > 0 ? ` ${JSON.stringify(extra)}` : ''}`, args: Object.fromEntries(runArgs), source: writtenText(instruction) },
    runConfig: config,
    layer: async (stepDir, io) => {
      // The whole step dir (the layer's upper lives in it) is bounded before anything is written.
      const enforced = await build.writableLayer.limit(stepDir, build.writableLayerBytes);
      try {
        return await runIn(stepDir, io, enforced);
      } finally {
        // The command is done; the bound comes off before the dir is committed and removed.
        if (enforced) await build.writableLayer.release(stepDir);
      }
    },
  };

  async function runIn(stepDir: string, io: StepIO, enforced: boolean): Promise<string> {
    const layers = layerDirsOf(parent, (id) => build.store.layerDir(id));
    // No USER is root, looked up too: HOME is /etc/passwd's (/root), or / without one (FROM scratch), as BuildKit.
    let user: { uid: number; gid: number; home?: string };
    try {
      user = await resolveUser(layers, config.User ?? '');
    } catch (err) {
      throw atLine(err, instruction.where);
    }
    const env = [...(config.Env ?? [])];
    const names = envMap(config);
    // What Docker's daemon adds to a container's environment when the image does not say.
    if (!names.has('PATH')) env.unshift(DEFAULT_PATH);
    if (!names.has('HOME')) env.push(`HOME=${user.home ?? '/'}`);
    for (const [name, value] of runArgs) env.push(`${name}=${value}`);
    // Proxy arguments pass without an ARG, and (as in Docker) outside the cache key and history.
    for (const [name, value] of build.buildArgs.proxies()) if (!names.has(name) && !stage.args.has(name)) env.push(`${name}=${value}`);
    const cwd = config.WorkingDir || '/';
    // Docker creates a missing working directory when the container starts; so does this,
    // in the step's upper, so the launcher finds it.
    await mkdir(join(stepDir, 'layer', 'upper'), { recursive: true });
    if (cwd !== '/') {
      const writer = new UpperWriter(join(stepDir, 'layer', 'upper'), layers);
      const target = await writer.resolve(cwd).catch(() => null);
      if (target !== null && target.entry === null) await writer.ensureDir(target.parts, { mode: 0o755, uid: 0, gid: 0 });
    }
    const prepared = await prepareMounts({
      mounts,
      stepDir,
      cacheRoot: build.cacheMounts.root,
      cacheBytes: build.cacheMounts.maxBytes,
      memoryBytes: build.resources.memoryBytes,
      build,
      secrets: build.secrets,
    });
    try {
      const extraMounts = [...prepared.mounts];
      if (script !== null) {
        // BuildKit runs a `#!` here-document as a file of a read-only mount at /dev/pipes/.
        const pipes = join(stepDir, 'pipes');
        await mkdir(pipes);
        await writeFile(join(pipes, script.name), script.data, { mode: 0o755 });
        extraMounts.push({ destination: '/dev/pipes', type: 'bind', source: pipes, options: ['bind', 'idmap', 'ro', 'nosuid', 'nodev'] });
      }
      const cachesBefore = await sizesOf(prepared.caches);
      // --network=none keeps a step on loopback alone, as in Docker.
      const egress = build.egress && network?.value !== 'none' ? await build.egress() : null;
      try {
        // Loaded here: a build whose RUN steps all come from the cache never needs the runtime, the
        // container spec or the way out.
        const { runStep } = await import('../run-step.js');
        return await runStep({
          runtime: build.runtime,
          idRanges: build.idRanges,
          idPrefix: build.idPrefix,
          stepDir,
          layers,
          args,
          // A secret asked for with env= is in this process's environment only; the bundle that
          // carries it is then written to the step's secrets tmpfs, not to the store's disk.
          env: [...env, ...prepared.env],
          ...(prepared.env.length > 0 ? { bundleDir: join(prepared.secretDir!, 'bundle') } : {}),
          cwd,
          user: { uid: user.uid, gid: user.gid },
          resources: build.resources,
          where: instruction.where,
          command: instruction.json ? JSON.stringify(instruction.json) : instruction.args,
          onOutput: io.emitLog,
          ...(io.emitEgress ? { onEgress: io.emitEgress } : {}),
          tailLines: build.tailLines,
          ...(enforced ? { diskLimitBytes: build.writableLayerBytes } : {}),
          ...(egress ? { egress } : {}),
          signal: io.signal,
          log: build.log,
          mounts: extraMounts,
          mountPoints: prepared.mountPoints,
        });
      } finally {
        // What the step added to its caches counts, whether it succeeded or not.
        await admitCaches(prepared.caches, cachesBefore);
      }
    } finally {
      await prepared.release();
    }
  }

  /** A cache mount takes the session's disk: what a step added is checked against its quota, and a cache past it is emptied. */
  async function admitCaches(caches: string[], before: number[]): Promise<void> {
    const after = await sizesOf(caches);
    const grown = after.reduce((sum, size, i) => sum + size - before[i]!, 0);
    try {
      await build.cacheMounts.admitGrowth(grown);
    } catch (err) {
      for (const dir of caches) await emptyDir(dir);
      throw atLine(err, instruction.where);
    }
  }
};

async function sizesOf(dirs: readonly string[]): Promise<number[]> {
  const sizes: number[] = [];
  for (const dir of dirs) sizes.push(await treeBytes(dir));
  return sizes;
}

/** Empties a directory containers wrote, without following what they left in it (GNU rm's fd-relative walk). */
async function emptyDir(dir: string): Promise<void> {
  const names = await readdir(dir).catch(() => [] as string[]);
  for (const name of names) await removeLayerDir(join(dir, name));
}

/**
 * The command a RUN with here-documents runs, as BuildKit's dockerfile:1 makes it: `RUN <<EOF`
 * alone is its body given to the shell (`/bin/sh -c <body>`), or, when the body starts with
 * `#!`, a file run by that interpreter; anything else (`RUN python3 <<EOF`, two documents) is
 * the command line with each body and terminator after it, for the shell to read as here-documents.
 */
function heredocCommand(instruction: Instruction, escape: string): { command: string; script: { name: string; data: string } | null } {
  const docs = instruction.heredocs;
  if (docs.length === 0) return { command: instruction.args, script: null };
  const words = splitWords(instruction.args, escape);
  if (docs.length === 1 && words.length === 1) {
    const doc = docs[0]!;
    const data = doc.chomp ? chompHeredoc(doc.content) : doc.content;
    if (data.startsWith('#!')) return { command: `/dev/pipes/${doc.name}`, script: { name: doc.name, data } };
    return { command: data, script: null };
  }
  return { command: instruction.args + docs.map((doc) => `\n${doc.content}${doc.name}`).join(''), script: null };
}

export const workdir: InstructionHandler = async ({ instruction, parent, stage, build }) => {
  checkFlags(instruction, []);
  requireArgs(instruction);
  const config = structuredClone(runConfigOf(parent));
  const vars = new StepVars(config, stage.args, build.escape, instruction.argsWhere);
  const path = vars.expand(instruction.args.trim());
  // Relative to the previous WORKDIR, as in Docker.
  const dir = posix.normalize(path.startsWith('/') ? path : posix.join(config.WorkingDir || '/', path)).replace(/(.)\/$/, '$1');
  config.WorkingDir = dir;
  const layers = layerDirsOf(parent, (id) => build.store.layerDir(id));
  const existing = await resolveInTree(new LayeredTree(null, layers), dir).catch((err: unknown) => {
    if (err instanceof NotADirectoryError || err instanceof SymlinkLoopError) throw learnerError('build.notADirectory', instruction.argsWhere, { path: dir });
    throw err;
  });
  if (existing.entry !== null && existing.entry.kind !== 'dir') throw learnerError('build.notADirectory', instruction.argsWhere, { path: dir });
  const step = {
    createdBy: `WORKDIR ${dir}`,
    cache: { instruction: `WORKDIR ${dir}`, args: vars.usedArgs, source: instruction.text },
    runConfig: config,
  };
  // A directory that exists needs no layer; a missing one is created, which is a change the
  // image must carry (Docker commits a layer for every WORKDIR; an empty one teaches nothing).
  if (existing.entry !== null) return step;
  return {
    ...step,
    layer: async (stepDir) => {
      // Owned by the USER in effect, with every parent it creates, as BuildKit does, so that
      // `USER app` + `WORKDIR /home/app/src` + `RUN touch x` works.
      let owner = { uid: 0, gid: 0 };
      if (config.User) {
        try {
          owner = await resolveUser(layers, config.User);
        } catch (err) {
          throw atLine(err, instruction.where);
        }
      }
      const upper = join(stepDir, 'upper');
      await mkdir(upper);
      const writer = new UpperWriter(upper, layers);
      const target = await writer.resolve(dir);
      await writer.ensureDir(target.parts, { mode: 0o755, uid: owner.uid, gid: owner.gid });
      return upper;
    },
  };
};
