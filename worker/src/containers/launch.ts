// Starting a container: its launcher bundle (a hardened config.json over the image's layers and
// the container's writable layer), a host id range, and a detached launcher monitor that holds
// the container's stdio, logs its output and outlives the process that started it.
import { mkdir } from 'node:fs/promises';
import type { Logger } from 'pino';
import { LearnerError } from '../../../protocol/errors.js';
import { NotADirectoryError, SymlinkLoopError } from '../image-store/layered-tree.js';
import { UpperWriter } from '../image-store/upper-writer.js';
import { containerGroups, resolveUser } from '../image-store/image-files.js';
import { writeEtcFiles } from '../runtime/etc-files.js';
import type { ContainerEgress } from '../egress/index.js';
import type { ImageStore } from '../image-store/index.js';
import { RuntimeError, type ContainerRuntime } from '../runtime/container-runtime.js';
import { describeFailure } from '../runtime/launcher-error.js';
import { ContainerAttachment } from './attachment.js';
import type { IdRangeAllocator } from '../runtime/id-ranges.js';
import { hardenedSpec, writeBundle } from '../runtime/oci-spec.js';
import { shortId } from './names.js';
import { containerPaths, type ContainerRecord } from './record.js';
import { processEnv } from './run-config.js';

export interface LaunchContext {
  dataDir: string;
  store: ImageStore;
  runtime: ContainerRuntime;
  idRanges: IdRangeAllocator;
  /** Containers' cgroups are `/<cgroupParent>/<launcher id>`. */
  cgroupParent: string;
  log: Logger;
  /** The way out to package archives: every container gets a door, open or closed by its session. */
  egress?: ContainerEgress;
}

export interface LaunchOptions {
  /** Connect to the container's stdio before it starts, so no output is missed. */
  attach?: boolean;
  consoleSize?: { rows: number; cols: number };
  /** Called when the learner types (the idle reaper's notion of activity). */
  touch?: () => void;
}

/** The launcher's name for a container: its short id keeps socket paths under 108 bytes. */
export function launcherId(record: { id: string }): string {
  return shortId(record.id);
}

/** Docker's exit statuses for a command that cannot run: 127 not found, 126 found but not runnable. */
export class StartError extends LearnerError {
  constructor(
    readonly exitCode: 126 | 127,
    command: string,
    reason: string,
  ) {
    // A name not found in $PATH, as Docker words it; a path is "stat PATH: no such file" (runc's lookup).
    super(exitCode === 127 && !command.includes('/') ? 'container.commandNotFound' : 'container.cannotRun', { command, reason });
  }
}

/** The pid of the monitor holding the container, from the launcher's `state`. */
async function monitorPid(runtime: ContainerRuntime, id: string): Promise<number | null> {
  const state = await runtime.state(id).catch(() => null);
  return state?.monitorPid && state.monitorPid > 0 ? state.monitorPid : null;
}

/** A missing working directory is created (owned by the container's root), as Docker does. */
async function ensureWorkingDir(upper: string, layers: readonly string[], workingDir: string, command: string): Promise<void> {
  const writer = new UpperWriter(upper, layers);
  try {
    const { parts, entry } = await writer.resolve(workingDir);
    if (entry?.kind === 'dir') return;
    if (entry !== null) throw new StartError(126, command, `the working directory ${workingDir} is not a directory`);
    await writer.ensureDir(parts, { mode: 0o755, uid: 0, gid: 0 });
  } catch (err) {
    if (err instanceof NotADirectoryError || err instanceof SymlinkLoopError) {
      throw new StartError(126, command, `the working directory ${workingDir} cannot be reached: ${err.message}`);
    }
    throw err;
  }
}

const EXEC_ERRNO_WORDS: Record<string, string> = {
  EACCES: 'permission denied',
  ENOEXEC: 'exec format error',
  EISDIR: 'is a directory',
  ENOTDIR: 'not a directory',
  ELOOP: 'too many levels of symbolic links',
  ETXTBSY: 'text file busy',
};

/** A start that failed, as Docker's 126/127 when the launcher's record says it is the command's fault. */
export function startFailure(err: unknown, command: string): unknown {
  const failure = err instanceof RuntimeError ? err.failure : null;
  if (failure?.exitStatus !== 126 && failure?.exitStatus !== 127) return err;
  if (failure.step === 'exec' && failure.exitStatus === 127 && command.includes('/')) {
    return new StartError(127, command, `stat ${command}: no such file or directory`);
  }
  // execve's errno in Go's words, as Docker prints it (`exec: "/etc": permission denied`).
  const said = failure.step === 'exec' ? EXEC_ERRNO_WORDS[failure.errnoName] : undefined;
  return new StartError(failure.exitStatus, command, said ?? describeFailure(failure));
}

/**
 * Starts the container under a new detached monitor. The caller holds the container's lock and
 * has removed any earlier launcher state. Returns the attachment when asked for one.
 */
export async function launch(ctx: LaunchContext, record: ContainerRecord, options: LaunchOptions = {}): Promise<ContainerAttachment | null> {
  const paths = containerPaths(ctx.dataDir, record.id);
  const id = launcherId(record);
  const command = record.config.args[0]!;
  let layers = await ctx.store.layerDirs(record.imageId);
  if (layers.length === 0) {
    await mkdir(paths.emptyLower, { recursive: true });
    layers = [paths.emptyLower];
  }
  await mkdir(paths.rootfs, { recursive: true });
  // Users and groups are looked up in what the container sees now: its own writes first.
  const user = await resolveUser([paths.upper, ...layers], record.config.user);
  await ensureWorkingDir(paths.upper, layers, record.config.workingDir, command);
  const own = processEnv(record.config.env, record.config.hostname, record.config.tty);
  const imageEnv = own.some((e) => e.startsWith('HOME=')) ? own : [...own, `HOME=${user.home ?? '/'}`];
  // `--network none` means none: no door to package archives, no proxy variables, no CA files,
  // whatever the session allows (a door to the closed relay would still be a listener on its loopback).
  const egress = record.config.network === 'none' ? undefined : ctx.egress;
  // The proxy's variables are the launch's, not the container's config: commit leaves them out.
  const env = egress ? [...imageEnv, ...egress.env] : imageEnv;

  const lease = ctx.idRanges.allocate(id);
  let created = false;
  let attachment: ContainerAttachment | null = null;
  try {
    // /etc/hosts, hostname, resolv.conf: Docker's, bind-mounted, never part of the writable layer.
    const etc = await writeEtcFiles({ dir: paths.layer, hostname: record.config.hostname, owner: lease.hostId, flavour: 'container', files: egress?.files ?? [] });
    writeBundle(
      paths.bundle,
      hardenedSpec({
        containerId: id,
        rootfsPath: paths.rootfs,
        args: record.config.args,
        env,
        cwd: record.config.workingDir,
        terminal: record.config.tty,
        ...(record.config.tty && options.consoleSize && options.consoleSize.rows > 0 && options.consoleSize.cols > 0
          ? { consoleSize: options.consoleSize }
          : {}),
        user: { uid: user.uid, gid: user.gid, additionalGids: containerGroups(user) },
        hostname: record.config.hostname,
        idRange: { hostId: lease.hostId, size: lease.size },
        memoryBytes: record.limits.memoryBytes,
        pidsMax: record.limits.pidsMax,
        cpuQuotaMicros: record.limits.cpuQuotaMicros,
        cpuPeriodMicros: record.limits.cpuPeriodMicros,
        // The launcher's wall clock: it kills the whole container and reports timedOut.
        ...(record.limits.timeLimitMs ? { timeoutMs: record.limits.timeLimitMs } : {}),
        layers: [etc.initLayer, ...layers],
        upperDir: paths.layer,
        mounts: etc.mounts,
        cgroupsPath: `/${ctx.cgroupParent}/${id}`,
      }),
    );
    await ctx.runtime.create({ id, bundleDir: paths.bundle, outputFile: paths.output });
    created = true;
    if (egress) {
      // Before the start: the command finds the proxy from its first instruction.
      const pid = (await ctx.runtime.state(id))?.pid;
      if (!pid) throw new Error('the created container has no process');
      // Without a door (socat missing: setup not run) the container still starts, on loopback only.
      await egress.open({ session: record.session, allowed: record.config.egress, pid }).catch((err: unknown) => {
        ctx.log.error({ err, container: id }, 'the container has no way out to package archives: its egress door did not open');
      });
    }
    // The range is the monitor's from now on: it lives as long as the container, not as long as
    // this process (the command line exits right after `run -d`).
    const monitor = await monitorPid(ctx.runtime, id);
    if (monitor !== null) ctx.idRanges.transfer(lease, monitor);
    else ctx.log.warn({ container: id }, 'launcher state names no monitor pid: the id range stays with this process');

    if (options.attach || !record.config.openStdin) {
      // Wrapped at once: what the container prints from its first instant is kept for the caller.
      attachment = new ContainerAttachment(await ctx.runtime.attach(id), options.touch ?? (() => undefined));
      // Without -i the container's stdin is at end-of-file at once, as with Docker.
      if (!record.config.openStdin && !record.config.tty) attachment.closeInput();
      if (!options.attach) {
        attachment.detach();
        attachment = null;
      }
    }
    await ctx.runtime.start(id);
    return attachment;
  } catch (err) {
    attachment?.detach();
    if (created) await ctx.runtime.delete(id, true).catch((e: unknown) => ctx.log.warn({ err: e, container: id }, 'could not delete a failed launcher'));
    ctx.idRanges.release(lease);
    throw startFailure(err, command);
  }
}
