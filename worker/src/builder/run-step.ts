// RUN: one sandbox-native container over an overlay of the parent's layers plus a fresh upper
// dir, with no network, the default container limits and the step time limit. What the command
// writes lands in the upper, which the caller then commits as the step's layer. The launcher
// mounts the overlay inside the container's own mount namespace, so nothing is mounted on the
// host and nothing can be left mounted (one exception: a RUN --mount=type=secret's tmpfs, in the
// step's scratch dir, run-mounts.ts; the store's scratch clean-up detaches it).
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import { PassThrough, type Readable } from 'node:stream';
import type { Logger } from 'pino';
import { LearnerError } from '../../../protocol/errors.js';
import { egressDefaults, type EgressSession, type Usage } from '../egress/index.js';
import { RuntimeError, type ContainerRuntime, type ExitInfo } from '../runtime/container-runtime.js';
import type { IdRangeAllocator } from '../runtime/id-ranges.js';
import { describeFailure, isLauncherLine } from '../runtime/launcher-error.js';
import { BUILD_HOSTNAME, writeEtcFiles } from '../runtime/etc-files.js';
import { hardenedSpec, writeBundle, type ExtraMount } from '../runtime/oci-spec.js';
import { formatBytes } from './format.js';
import type { Where } from './parse.js';
import { CancelledError } from './step.js';

export interface StepResources {
  memoryBytes: number;
  pidsMax: number;
  cpuQuotaMicros: number;
  cpuPeriodMicros: number;
  timeoutMs: number;
}

export interface RunStepOptions {
  runtime: ContainerRuntime;
  idRanges: IdRangeAllocator;
  /** An empty scratch dir on the store's filesystem. */
  stepDir: string;
  /** Container ids are `<idPrefix>-<random>` (and so are their cgroups, /layercake/<id>). */
  idPrefix: string;
  /** The parent's layer dirs, topmost first (may be empty: FROM scratch). */
  layers: readonly string[];
  args: string[];
  env: string[];
  cwd: string;
  user: { uid: number; gid: number };
  resources: StepResources;
  where: Where;
  /** The command as the learner wrote it, for error messages. */
  command: string;
  onOutput: (stream: 'stdout' | 'stderr', text: string) => void;
  /** Lines of output kept for the error of a failed command. */
  tailLines: number;
  /** Where config.json is written (default: the step dir's bundle/), e.g. a tmpfs when the environment holds a secret. */
  bundleDir?: string;
  /** RUN --mount's mounts (run-mounts.ts), after the standard ones. */
  mounts?: ExtraMount[];
  /** Their mount points, made in the init layer below the image so they stay out of the step's layer. */
  mountPoints?: { path: string; file: boolean }[];
  /** The kernel bounds what the step writes to this many bytes (absent: not enforced here). */
  diskLimitBytes?: number;
  signal?: AbortSignal;
  log: Logger;
  /** The way out to package archives (absent: loopback only, nothing listens there). */
  egress?: EgressSession;
  /** After the command: the hosts it reached (bytes each) and what it was refused, when it tried any. */
  onEgress?: (hosts: { host: string; bytes: number }[], refused: string[]) => void;
}

/** Keeps the last lines a stream produced, for the "command failed" error. */
class Tail {
  private lines: string[] = [];
  private partial = '';

  constructor(private readonly max: number) {}

  push(text: string): void {
    const pieces = (this.partial + text).split('\n');
    this.partial = pieces.pop() ?? '';
    this.lines.push(...pieces);
    if (this.lines.length > this.max) this.lines = this.lines.slice(-this.max);
  }

  get(): string[] {
    const all = this.partial ? [...this.lines, this.partial] : this.lines;
    return all.slice(-this.max);
  }
}

/** Output beyond this per step is dropped from the event stream (the command still runs). */
const MAX_LOG_BYTES = 1 << 20;

/** Runs the command; returns the upper dir holding what it changed (the step's layer). */
export async function runStep(o: RunStepOptions): Promise<string> {
  o.signal?.throwIfAborted();
  const upperParent = join(o.stepDir, 'layer');
  const rootfs = join(o.stepDir, 'rootfs');
  const bundle = o.bundleDir ?? join(o.stepDir, 'bundle');
  await mkdir(join(upperParent, 'upper'), { recursive: true });
  await mkdir(join(upperParent, 'work'));
  await mkdir(rootfs);
  const id = `${o.idPrefix}-${randomBytes(6).toString('hex')}`;
  const lease = o.idRanges.allocate(id);
  try {
    // BuildKit's /etc/hosts and resolv.conf (read-only binds), over an init layer of mount
    // points (/etc's files, /proc, /sys, /dev) that keeps them out of the step's layer; it is
    // also the lower layer overlayfs needs when FROM scratch has none.
    const etc = await writeEtcFiles({ dir: o.stepDir, hostname: BUILD_HOSTNAME, owner: lease.hostId, flavour: 'build', files: o.egress?.files ?? [] });
    for (const point of o.mountPoints ?? []) {
      // Normalized absolute paths (run-mounts.ts), in a directory made afresh for this step: no
      // link to follow. One that cannot be made here (below /etc/hosts) is left to the launcher.
      const at = join(etc.initLayer, point.path);
      try {
        await mkdir(point.file ? dirname(at) : at, { recursive: true, mode: 0o755 });
        if (point.file) await writeFile(at, '', { flag: 'a', mode: 0o644 });
      } catch (err) {
        if (!['ENOTDIR', 'EEXIST', 'EISDIR'].includes((err as NodeJS.ErrnoException).code ?? '')) throw err;
      }
    }
    writeBundle(
      bundle,
      hardenedSpec({
        containerId: id,
        rootfsPath: rootfs,
        args: o.args,
        // The proxy variables are the step's, not the image's (Docker treats them so too).
        env: o.egress ? [...o.env, ...o.egress.env] : o.env,
        cwd: o.cwd,
        user: o.user,
        hostname: BUILD_HOSTNAME,
        idRange: { hostId: lease.hostId, size: lease.size },
        memoryBytes: o.resources.memoryBytes,
        pidsMax: o.resources.pidsMax,
        cpuQuotaMicros: o.resources.cpuQuotaMicros,
        cpuPeriodMicros: o.resources.cpuPeriodMicros,
        timeoutMs: o.resources.timeoutMs,
        layers: [etc.initLayer, ...o.layers],
        upperDir: upperParent,
        mounts: [...etc.mounts, ...(o.mounts ?? [])],
      }),
    );
    const before = o.egress?.usage();
    const exit = await runContainer(o, id, bundle);
    if (before) reportEgress(o, before);
    if (o.signal?.aborted) throw new CancelledError();
    if (exit.timedOut) {
      throw new LearnerError('build.stepTimeout', { line: o.where.line, seconds: Math.round(o.resources.timeoutMs / 1000) }, o.where);
    }
    if (exit.oomKilled) {
      throw new LearnerError('build.runOomKilled', { line: o.where.line, limit: formatBytes(o.resources.memoryBytes) }, o.where);
    }
    // EDQUOT can only come from the step's own bound: say so rather than "the command failed".
    if (exit.exitCode !== 0 && o.diskLimitBytes !== undefined && exit.tail.some((line) => /quota exceeded/i.test(line))) {
      throw new LearnerError('build.stepDiskLimit', { line: o.where.line, limit: formatBytes(o.diskLimitBytes) }, o.where);
    }
    if (exit.exitCode !== 0 && o.egress) refusedEgress(o, before!, exit.tail);
    if (exit.exitCode !== 0) {
      throw new LearnerError(
        'build.runFailed',
        { line: o.where.line, exitCode: exit.exitCode, command: o.command, output: exit.tail, ...(exit.signal ? { signal: exit.signal } : {}) },
        o.where,
      );
    }
  } finally {
    o.idRanges.release(lease);
  }
  return join(upperParent, 'upper');
}

async function runContainer(o: RunStepOptions, id: string, bundleDir: string): Promise<ExitInfo & { tail: string[] }> {
  const tail = new Tail(o.tailLines);
  let logged = 0;
  let truncated = false;
  const relay = (stream: Readable, name: 'stdout' | 'stderr'): void => {
    const decoder = new StringDecoder('utf8');
    const send = (text: string): void => {
      if (text === '') return;
      tail.push(text);
      if (truncated) return;
      logged += Buffer.byteLength(text);
      if (logged > MAX_LOG_BYTES) {
        truncated = true;
        o.onOutput('stderr', `\n[layercake: more than ${formatBytes(MAX_LOG_BYTES)} of output; the rest is not shown]\n`);
        return;
      }
      o.onOutput(name, text);
    };
    stream.on('data', (chunk: Buffer) => send(decoder.write(chunk)));
    stream.on('end', () => send(decoder.end()));
  };

  const started = Date.now();
  const proc = o.egress ? o.egress.run(o.runtime, { id, bundleDir, stepDir: o.stepDir }) : o.runtime.run({ id, bundleDir });
  relay(proc.stdout, 'stdout');
  // Without a terminal, stderr carries the container's stderr and, prefixed, the launcher's own
  // messages; the latter reach the learner through the RuntimeError instead.
  relay(filterLauncher(proc.stderr), 'stderr');

  // Cancellation kills every process of the container; the launcher then exits on its own and
  // removes its state and cgroup, which killing the launcher itself would leave behind.
  let killing: Promise<void> | null = null;
  const onAbort = (): void => {
    killing ??= killUntilGone(o.runtime, id, proc.exited);
  };
  o.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    const exit = await proc.exited;
    o.log.debug({ step: 'run', id, ms: Date.now() - started, exit }, 'build step ran');
    return { ...exit, tail: tail.get() };
  } catch (err) {
    if (o.signal?.aborted) throw new CancelledError();
    if (err instanceof RuntimeError) {
      // The launcher's record decides: 127 the command was not found, anything else it could not run.
      const command = o.args[0] ?? '';
      if (err.failure?.exitStatus === 127) {
        throw new LearnerError('container.commandNotFound', { command, line: o.where.line }, o.where);
      }
      const reason = err.failure ? describeFailure(err.failure) : err.message;
      throw new LearnerError('container.cannotRun', { command, reason, line: o.where.line }, o.where);
    }
    throw err;
  } finally {
    o.signal?.removeEventListener('abort', onAbort);
    await killing;
  }
}

/** Drops the launcher's own lines (its human line and its record) from the stderr shown as build output. */
function filterLauncher(stderr: Readable): Readable {
  const out = new PassThrough();
  let pending = '';
  stderr.on('data', (chunk: Buffer) => {
    pending += chunk.toString('latin1');
    const lines = pending.split('\n');
    pending = lines.pop() ?? '';
    const kept = lines.filter((line) => !isLauncherLine(line));
    if (kept.length > 0) out.write(Buffer.from(kept.map((l) => `${l}\n`).join(''), 'latin1'));
  });
  stderr.on('end', () => {
    if (pending !== '' && !isLauncherLine(pending)) out.write(Buffer.from(pending, 'latin1'));
    out.end();
  });
  return out;
}

/** SIGKILL to every process of the container, retried while the launcher is still setting it up. */
async function killUntilGone(runtime: ContainerRuntime, id: string, exited: Promise<unknown>): Promise<void> {
  let done = false;
  void exited.finally(() => (done = true)).catch(() => undefined);
  for (let attempt = 0; attempt < 200 && !done; attempt++) {
    await runtime.kill(id, 'SIGKILL', true).catch(() => undefined);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** What a network tool prints when it had no route or no name: the step tried to go elsewhere. */
const NO_ROUTE = /network is unreachable|could not resolve|temporary failure (in name resolution|resolving)|name or service not known|EAI_AGAIN|ENETUNREACH|ENOTFOUND|403 Forbidden|Failed to establish a new connection|no such host/i;

/** A failed step that was refused a destination, or cut off at the session's limit, says so. */
function refusedEgress(o: RunStepOptions, before: Usage, tail: string[]): void {
  const now = o.egress!.usage();
  // Cut off during the step, or before it (the session's record: its limit outlives restarts).
  if (now.limit) {
    throw new LearnerError('egress.limit', { line: o.where.line, limit: now.limit === 'bytes' ? formatBytes(egressDefaults.session.bytes) : `${Math.round(egressDefaults.session.ms / 60_000)} min` }, o.where);
  }
  const refused = now.refused.slice(before.refused.length);
  const said = tail.find((line) => NO_ROUTE.test(line));
  if (refused.length > 0 || said !== undefined) {
    throw new LearnerError('egress.refused', { line: o.where.line, target: refused[0] ?? said!.trim().slice(0, 120) }, o.where);
  }
}

function reportEgress(o: RunStepOptions, before: Usage): void {
  const now = o.egress!.usage();
  const hosts = Object.entries(now.hosts)
    .map(([host, bytes]) => ({ host, bytes: bytes - (before.hosts[host] ?? 0) }))
    .filter((h) => h.bytes > 0);
  const refused = now.refused.slice(before.refused.length);
  if (hosts.length > 0 || refused.length > 0) o.onEgress?.(hosts, refused);
}
