// One learner session's containers: Docker's container verbs over the image store and the
// launcher. Records live on disk (record.ts) and every call first brings a record in line with
// its launcher (reconcile.ts), so any process — the worker, the command line, a worker restarted
// after a crash — sees and changes the same containers. Changes of one container happen under
// its lock (a cross-process lock in the store); creation under the session's, so names stay unique.
import type { ContainerEgress } from '../egress/index.js';
import { mkdir, rm, stat, unlink, utimes, writeFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino, type Logger } from 'pino';
import { z } from 'zod';
import { lazySchema } from '../../../protocol/lazy-schema.js';
import { LearnerError } from '../../../protocol/errors.js';
import { noEvents, type EventSink } from '../events.js';
import { containerGroups, resolveUser } from '../image-store/image-files.js';
import { byCodePoint, type Change, type Digest, type ImageStore, type LayerRecord } from '../image-store/index.js';
import { TreeAccessError } from '../image-store/tree-beneath.js';
import { commitLimits, sessionQuotas } from '../limits.js';
import { type Attachment, type ContainerProcess, type ContainerRuntime, type ExitInfo, type RuntimeState } from '../runtime/container-runtime.js';
import type { IdRangeAllocator } from '../runtime/id-ranges.js';
import { SessionImages } from '../sessions/images.js';
import { ContainerAttachment } from './attachment.js';
import { commitConfig } from './commit-config.js';
import { cpusOf, defaultContainerLimits, limitRequestSchema, resolveLimits } from './container-limits.js';
import { containerImageUsers } from './image-users.js';
import { launch, launcherId, StartError, startFailure, type LaunchContext } from './launch.js';
import { readLogs, type LogChunk } from './logs.js';
import { checkName, generateName, newContainerId, shortId } from './names.js';
import { checkQuotas, checkRunningTotals, measureUsage, treeBytes, type RunningLimits, type SessionQuotas, type SessionUsage } from '../sessions/quotas.js';
import { exitStateOf, isLive, settleExit, type ExitState, type LiveStatus, type ReconcileContext } from './reconcile.js';
import { containerPaths, listIds, networkMode, readAllRecords, readRecord, writeRecord, type ContainerLimits, type ContainerRecord } from './record.js';
import { composeRun, mergeEnv, processEnv } from './run-config.js';
import { normaliseSignal } from './signals.js';
import { measure } from './stats.js';
import { diskQuotaLimiter, removeLayerDir, type WritableLayerLimiter } from '../disk/writable-layer.js';

/** The host's engine parts containers are made of (the queue's Engine has them all). */
export interface ContainerEngine {
  dataDir: string;
  store: ImageStore;
  runtime: ContainerRuntime;
  idRanges: IdRangeAllocator;
  log?: Logger;
  /** Containers' cgroups are `/<cgroupParent>/<short id>` (default `layercake`). */
  cgroupParent?: string;
  /** Limits of new containers when the learner asks for none (default limits.ts containerLimits). */
  defaults?: Partial<ContainerLimits>;
  quotas?: Partial<SessionQuotas>;
  /** How a writable layer's disk is bounded (default: disk-quota.ts). */
  writableLayer?: WritableLayerLimiter;
  /** How long commit may take to turn the writable layer into a layer (default: limits.ts commitLimits). */
  commitTimeoutMs?: number;
  /** Containers' way out to package archives (absent: loopback only, as without the worker's proxy). */
  containerEgress?: ContainerEgress;
}

export interface ContainersOptions extends ContainerEngine {
  session: string;
  /** Where this object's operations report (container.created/started/exited/diff/stats…). */
  events?: EventSink;
}

export const createRequestSchema = lazySchema(() =>
  z
    .object({
      image: z.string().min(1),
      name: z.string().min(1).optional(),
      /** Replaces the image's CMD. */
      cmd: z.array(z.string()).optional(),
      /** Replaces the image's ENTRYPOINT (and drops its CMD); [] clears it. */
      entrypoint: z.array(z.string()).optional(),
      env: z.array(z.string()).default([]),
      workingDir: z.string().optional(),
      user: z.string().optional(),
      tty: z.boolean().default(false),
      /** Keep stdin open (`-i`); without it the container reads end-of-file. */
      openStdin: z.boolean().default(false),
      /** `--rm`: removed once it has exited. */
      autoRemove: z.boolean().default(false),
      /** Its session lets it reach package archives (when the host runs the proxy). */
      egress: z.boolean().default(false),
      /** `--network none`: loopback only, and no way out even where `egress` allows one. */
      network: networkMode.default('default'),
      limits: limitRequestSchema.optional(),
    })
    .strict(),
);
export type CreateRequest = z.input<typeof createRequestSchema>;

export interface StartOptions {
  /** Connect to its stdio before it starts (nothing it prints is missed). */
  attach?: boolean;
  /** The terminal's size at start (with tty). */
  consoleSize?: { rows: number; cols: number };
}

export interface ExecRequest {
  cmd: string[];
  env?: string[];
  user?: string;
  workingDir?: string;
  /** A terminal of this size; without it, pipes. */
  tty?: { rows: number; cols: number };
}

export interface ExecSession {
  process: ContainerProcess;
  /** The command's exit; rejects with a learner error (126/127) when it could not run. */
  exited: Promise<ExitInfo>;
}

export interface CommitRequest {
  /** `REPO[:TAG]` in the session's names; without it the image is untagged (and the session's). */
  reference?: string | undefined;
  message?: string | undefined;
  author?: string | undefined;
  /** Pause a running container while its layer is copied (default true, as Docker). */
  pause?: boolean | undefined;
}

export interface CommitResult {
  imageId: Digest;
  /** The learner's name it got, if any. */
  tag: string | null;
  layer: LayerRecord;
}

export interface ContainerStats {
  containerId: string;
  name: string;
  running: boolean;
  memoryBytes: number;
  memoryLimitBytes: number;
  pids: number;
  pidsLimit: number;
  cpuUsageNanos: number;
  cpuPercent: number;
}

/** What `ps` and `inspect` show: the record with the launcher's view of now. */
export interface ContainerInfo {
  id: string;
  shortId: string;
  name: string;
  session: string;
  image: string;
  imageId: Digest;
  created: string;
  /** What it runs: entrypoint + cmd. */
  command: string[];
  config: ContainerRecord['config'];
  limits: ContainerLimits;
  cpus: number;
  /** Whether the kernel bounds its writable layer to limits.writableLayerBytes. */
  diskQuota: boolean;
  status: LiveStatus;
  /** Host pid of its init while it runs, else 0. */
  pid: number;
  startedAt: string | null;
  finishedAt: string | null;
  exitCode: number;
  oomKilled: boolean;
  timedOut: boolean;
  signal?: string;
  error?: string;
  starts: number;
  lastActivityAt: string | null;
  paths: { upper: string; work: string; rootfs: string; bundle: string; output: string };
}

interface Current {
  record: ContainerRecord;
  status: LiveStatus;
  state: RuntimeState | null;
  /** This call saw it exit (and, for --rm, removed it). */
  justExited?: boolean;
  removed?: boolean;
}

/**
 * A running container that renames one entry of its writable layer without pause while the
 * engine reads it (fstree gives up after 64 changes in a row, or once a copy has written twice
 * what the layer can hold): the learner's to fix, by pausing.
 */
function keptChanging(ref: string): (err: unknown) => never {
  return (err) => {
    if (err instanceof TreeAccessError && (err.code === 'changed' || err.code === 'limit')) throw new LearnerError('container.keptChanging', { ref, path: `/${err.path}` });
    throw err;
  };
}

/** Most changes one container.diff event carries; the call itself returns them all. */
const DIFF_EVENT_MAX = 1000;

export class Containers {
  readonly session: string;
  readonly images: SessionImages;
  private readonly dataDir: string;
  private readonly store: ImageStore;
  private readonly runtime: ContainerRuntime;
  private readonly idRanges: IdRangeAllocator;
  private readonly events: EventSink;
  private readonly log: Logger;
  private readonly defaults: ContainerLimits;
  private readonly quotas: SessionQuotas;
  private readonly writableLayer: WritableLayerLimiter;
  private readonly commitTimeoutMs: number;
  private readonly launchCtx: LaunchContext;

  constructor(options: ContainersOptions) {
    this.session = options.session;
    this.dataDir = options.dataDir;
    this.store = options.store;
    this.runtime = options.runtime;
    this.idRanges = options.idRanges;
    this.events = options.events ?? noEvents;
    this.log = options.log ?? pino({ name: 'containers', level: 'warn' });
    this.images = new SessionImages(options.store, options.session, options.dataDir);
    this.defaults = { ...defaultContainerLimits, ...options.defaults };
    this.quotas = { ...sessionQuotas, ...options.quotas };
    this.writableLayer = options.writableLayer ?? diskQuotaLimiter(this.log);
    this.commitTimeoutMs = options.commitTimeoutMs ?? commitLimits.layerTimeoutMs;
    this.launchCtx = {
      dataDir: options.dataDir,
      store: options.store,
      runtime: options.runtime,
      idRanges: options.idRanges,
      cgroupParent: options.cgroupParent ?? 'layercake',
      log: this.log,
      ...(options.containerEgress ? { egress: options.containerEgress } : {}),
    };
    // rmi refuses an image while any container (of any session) uses it.
    this.store.setImageUsers(containerImageUsers(options.dataDir));
  }

  private get reconcileCtx(): ReconcileContext {
    return this.launchCtx;
  }

  // ---- finding and reconciling ----------------------------------------------------------------

  private async sessionRecords(): Promise<ContainerRecord[]> {
    return (await readAllRecords(this.dataDir)).filter((r) => r.session === this.session);
  }

  /** Docker's lookup: full id, then name, then a unique id prefix. */
  private async find(ref: string): Promise<ContainerRecord> {
    const mine = await this.sessionRecords();
    const exact = mine.find((r) => r.id === ref) ?? mine.find((r) => r.name === ref);
    if (exact) return exact;
    if (/^[0-9a-f]+$/.test(ref)) {
      const matches = mine.filter((r) => r.id.startsWith(ref));
      if (matches.length === 1) return matches[0]!;
      if (matches.length > 1) throw new LearnerError('container.ambiguous', { ref, matches: matches.map((r) => shortId(r.id)) });
    }
    throw new LearnerError('container.notFound', { ref });
  }

  private locked<T>(id: string, fn: () => Promise<T>): Promise<T> {
    return this.store.withNamedLock(`container-${shortId(id)}`, fn);
  }

  /** With the lock held: the record as it is now, an exit recorded, --rm honoured. */
  private async settle(id: string): Promise<Current | null> {
    const record = await readRecord(this.dataDir, id);
    if (!record) return null;
    const { record: next, exited, state } = await settleExit(this.reconcileCtx, record);
    if (!exited) {
      const status: LiveStatus = record.state.status !== 'running' ? record.state.status : state?.status === 'paused' ? 'paused' : 'running';
      return { record, status, state };
    }
    if (next.config.autoRemove) {
      await this.destroy(next);
      return { record: next, status: 'exited', state: null, justExited: true, removed: true };
    }
    try {
      await writeRecord(this.dataDir, next);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null; // removed meanwhile
      throw err;
    }
    return { record: next, status: 'exited', state: null, justExited: true };
  }

  /** Cheap when nothing changed (one `state` call); takes the lock only to record an exit. */
  private async refresh(record: ContainerRecord): Promise<Current | null> {
    if (record.state.status !== 'running') return { record, status: record.state.status, state: null };
    const state = await this.runtime.state(launcherId(record));
    if (isLive(state)) return { record, status: state!.status === 'paused' ? 'paused' : 'running', state };
    return this.locked(record.id, () => this.settle(record.id));
  }

  private async current(ref: string): Promise<Current> {
    const record = await this.find(ref);
    const cur = await this.refresh(record);
    if (!cur || cur.removed) throw new LearnerError('container.notFound', { ref });
    return cur;
  }

  private async lastActivity(id: string): Promise<number | null> {
    const st = await stat(containerPaths(this.dataDir, id).activity).catch(() => null);
    return st ? st.mtimeMs : null;
  }

  /** Counts as activity for the idle reaper. */
  async touch(id: string): Promise<void> {
    const now = new Date();
    await utimes(containerPaths(this.dataDir, id).activity, now, now).catch(() => undefined);
  }

  private async view(cur: Current): Promise<ContainerInfo> {
    const { record } = cur;
    const paths = containerPaths(this.dataDir, record.id);
    const activity = await this.lastActivity(record.id);
    return {
      id: record.id,
      shortId: shortId(record.id),
      name: record.name,
      session: record.session,
      image: record.image,
      imageId: record.imageId as Digest,
      created: record.created,
      command: record.config.args,
      config: record.config,
      limits: record.limits,
      cpus: cpusOf(record.limits),
      diskQuota: record.diskQuota,
      status: cur.status,
      pid: cur.status === 'running' || cur.status === 'paused' ? (cur.state?.pid ?? 0) : 0,
      startedAt: record.state.startedAt,
      finishedAt: record.state.finishedAt,
      exitCode: record.state.exitCode,
      oomKilled: record.state.oomKilled,
      timedOut: record.state.timedOut,
      ...(record.state.signal ? { signal: record.state.signal } : {}),
      ...(record.state.error ? { error: record.state.error } : {}),
      starts: record.state.starts,
      lastActivityAt: activity === null ? null : new Date(activity).toISOString(),
      paths: { upper: paths.upper, work: paths.work, rootfs: paths.rootfs, bundle: paths.bundle, output: paths.output },
    };
  }

  private emitExit(record: ContainerRecord): void {
    this.events.emit({
      type: 'container.exited',
      containerId: record.id,
      exitCode: record.state.exitCode,
      oomKilled: record.state.oomKilled,
      timedOut: record.state.timedOut,
      ...(record.state.signal ? { signal: record.state.signal } : {}),
    });
  }

  // ---- create, start, run ---------------------------------------------------------------------

  private async newId(): Promise<string> {
    // The launcher knows a container by its short id (socket paths must stay short): keep those unique.
    const taken = new Set((await listIds(this.dataDir)).map(shortId));
    for (;;) {
      const id = newContainerId();
      if (!taken.has(shortId(id))) return id;
    }
  }

  /** `docker create`: the container's record and its empty writable layer; nothing runs yet. */
  async create(input: CreateRequest): Promise<ContainerInfo> {
    const req = createRequestSchema.parse(input);
    if (req.name !== undefined) checkName(req.name);
    const imageId = await this.images.resolve(req.image);
    const image = await this.store.inspect(imageId);
    const limits = resolveLimits(this.defaults, req.limits);
    const id = await this.newId();
    const run = composeRun(
      image.config.config,
      req.image,
      { cmd: req.cmd, entrypoint: req.entrypoint, env: req.env, workingDir: req.workingDir, user: req.user },
    );

    const record = await this.store.withNamedLock(`containers-${this.session}`, async () => {
      const mine = await this.sessionRecords();
      if (req.name !== undefined) {
        const other = mine.find((r) => r.name === req.name);
        if (other) throw new LearnerError('container.nameInUse', { name: req.name, id: shortId(other.id) });
      }
      const name = req.name ?? generateName(new Set(mine.map((r) => r.name)));
      checkQuotas(await this.measure(mine), this.quotas, { containers: 1 });

      const paths = containerPaths(this.dataDir, id);
      try {
        await mkdir(paths.dir, { recursive: true, mode: 0o700 });
        await mkdir(paths.layer);
        // Before anything is written into it, so every byte the container writes is counted.
        const diskQuota = await this.writableLayer.limit(paths.layer, limits.writableLayerBytes);
        await mkdir(paths.upper);
        await mkdir(paths.work);
        await writeFile(paths.activity, '');
        const now = new Date().toISOString();
        const made: ContainerRecord = {
          version: 1,
          id,
          name,
          session: this.session,
          created: now,
          image: req.image,
          imageId,
          config: { ...run, tty: req.tty, openStdin: req.openStdin, hostname: shortId(id), autoRemove: req.autoRemove, egress: req.egress, network: req.network },
          limits,
          diskQuota,
          state: { status: 'created', startedAt: null, finishedAt: null, exitCode: 0, oomKilled: false, timedOut: false, starts: 0 },
        };
        await writeRecord(this.dataDir, made);
        return made;
      } catch (err) {
        await this.writableLayer.release(paths.layer).catch(() => undefined);
        await removeLayerDir(paths.layer).catch(() => undefined);
        await rm(paths.dir, { recursive: true, force: true });
        throw err;
      }
    });
    this.events.emit({ type: 'container.created', containerId: record.id, name: record.name, image: record.image });
    return this.view({ record, status: 'created', state: null });
  }

  /**
   * `docker start`: the container runs under a new detached launcher. With `attach`, the returned
   * attachment was connected before the start. Starting a running container does nothing.
   */
  async start(ref: string, options: StartOptions = {}): Promise<{ container: ContainerInfo; attachment: ContainerAttachment | null }> {
    const found = await this.find(ref);
    let attachment: ContainerAttachment | null = null;
    let started = false;
    const cur: Current = await this.locked(found.id, async (): Promise<Current> => {
      const now = await this.settle(found.id);
      if (!now || now.removed) throw new LearnerError('container.notFound', { ref });
      if (now.status === 'paused') throw new LearnerError('container.isPaused', { ref });
      if (now.status === 'running') {
        if (options.attach) attachment = this.wrap(now.record, await this.runtime.attach(launcherId(now.record)));
        return now;
      }
      const record = now.record;
      // What an earlier run may have left (a launcher killed before it cleaned up).
      await this.runtime.delete(launcherId(record), true);
      this.idRanges.releaseContainer(launcherId(record));
      const startedAt = new Date().toISOString();
      try {
        // Checked and launched under the session's lock: two starts cannot both take the last of its totals.
        attachment = await this.store.withNamedLock(`containers-${this.session}`, async () => {
          await this.checkRunningTotals(record);
          return launch(this.launchCtx, record, { ...options, touch: () => void this.touch(record.id) });
        });
      } catch (err) {
        if (err instanceof StartError) {
          // As Docker: the container stays, with 126/127 and the reason, for `ps -a` and `inspect`.
          await writeRecord(this.dataDir, {
            ...record,
            state: { ...record.state, finishedAt: startedAt, exitCode: err.exitCode, error: err.message, oomKilled: false, timedOut: false, signal: undefined },
          });
        }
        throw err;
      }
      const running: ContainerRecord = {
        ...record,
        state: {
          status: 'running',
          startedAt,
          finishedAt: null,
          exitCode: 0,
          oomKilled: false,
          timedOut: false,
          starts: record.state.starts + 1,
        },
      };
      await writeRecord(this.dataDir, running);
      await this.touch(record.id);
      started = true;
      return { record: running, status: 'running', state: await this.runtime.state(launcherId(record)) };
    });
    if (started) {
      const l = cur.record.limits;
      this.events.emit({
        type: 'container.started',
        containerId: cur.record.id,
        image: cur.record.image,
        limits: { memoryBytes: l.memoryBytes, pidsMax: l.pidsMax, cpus: cpusOf(l), idleTimeoutMs: l.idleTimeoutMs, ...(l.timeLimitMs ? { timeLimitMs: l.timeLimitMs } : {}) },
      });
    }
    return { container: await this.view(cur), attachment };
  }

  /** `docker run`: create and start (attached when asked); `--rm` containers that cannot start are removed. */
  async run(input: CreateRequest, options: StartOptions = {}): Promise<{ container: ContainerInfo; attachment: ContainerAttachment | null }> {
    const created = await this.create(input);
    try {
      return await this.start(created.id, options);
    } catch (err) {
      if (created.config.autoRemove) await this.remove(created.id, { force: true }).catch(() => undefined);
      throw err;
    }
  }

  private wrap(record: ContainerRecord, raw: Attachment): ContainerAttachment {
    return new ContainerAttachment(raw, () => void this.touch(record.id));
  }

  /** `docker attach`: the running container's stdio (output from now on, input, resize). */
  async attach(ref: string): Promise<ContainerAttachment> {
    const cur = await this.current(ref);
    if (cur.status !== 'running' && cur.status !== 'paused') throw new LearnerError('container.attachStopped', { ref });
    await this.touch(cur.record.id);
    return this.wrap(cur.record, await this.runtime.attach(launcherId(cur.record)));
  }

  // ---- exec -----------------------------------------------------------------------------------

  /** `docker exec`: another process in the running container, in the foreground of this one. */
  async exec(ref: string, req: ExecRequest): Promise<ExecSession> {
    const cur = await this.current(ref);
    if (cur.status === 'paused') throw new LearnerError('container.isPaused', { ref });
    if (cur.status !== 'running') throw new LearnerError('container.notRunning', { ref });
    if (req.cmd.length === 0) throw new LearnerError('container.noCommand', { image: cur.record.image });
    const { record } = cur;
    const paths = containerPaths(this.dataDir, record.id);
    const layers = await this.store.layerDirs(record.imageId);
    const user = await resolveUser([paths.upper, ...layers], req.user ?? record.config.user);
    // The proxy's variables, as the container's own processes have them (launch.ts: none with --network none).
    // Docker's exec: the container's process environment (its TERM by exec's -t), then -e, then
    // HOME when none of them set it (runc adds it last); the whole list, so the launcher merges
    // nothing of the container's own (whose HOME would otherwise stay before -e's entries).
    let env = mergeEnv([...processEnv(record.config.env, record.config.hostname, Boolean(req.tty)), ...(record.config.network === 'none' ? [] : (this.launchCtx.egress?.env ?? []))], req.env ?? []);
    if (!env.some((e) => e.startsWith('HOME='))) env = [...env, `HOME=${user.home ?? '/'}`];
    await this.touch(record.id);
    const process = this.runtime.exec({
      id: launcherId(record),
      bundleDir: paths.bundle,
      args: req.cmd,
      env,
      cwd: req.workingDir ?? record.config.workingDir,
      user: { uid: user.uid, gid: user.gid, additionalGids: containerGroups(user) },
      ...(req.tty ? { tty: req.tty } : {}),
    });
    const command = req.cmd[0]!;
    const exited = process.exited.then(
      (exit) => {
        void this.touch(record.id);
        return exit;
      },
      (err: unknown) => {
        void this.touch(record.id);
        throw startFailure(err, command);
      },
    );
    return { process, exited };
  }

  // ---- stopping ---------------------------------------------------------------------------------

  /** Until the container's launcher says it stopped, or `timeoutMs` passed; true if it stopped. */
  private async untilStopped(record: ContainerRecord, timeoutMs: number, signal?: AbortSignal): Promise<boolean> {
    const id = launcherId(record);
    const deadline = Date.now() + timeoutMs;
    // The attach socket closes when the container exits: a prompt wake-up without busy polling.
    const attachment = await this.runtime.attach(id, { watch: true }).catch(() => null);
    const closed = attachment ? new Promise<void>((resolve) => attachment.on('close', () => resolve())) : null;
    try {
      for (;;) {
        signal?.throwIfAborted();
        if (!isLive(await this.runtime.state(id))) return true;
        const left = deadline - Date.now();
        if (left <= 0) return false;
        const nap = new AbortController();
        const onAbort = (): void => nap.abort();
        signal?.addEventListener('abort', onAbort, { once: true });
        await Promise.race([sleep(Math.min(left, closed ? 1000 : 100), undefined, { signal: nap.signal }).catch(() => undefined), closed]);
        nap.abort();
        signal?.removeEventListener('abort', onAbort);
      }
    } finally {
      attachment?.detach();
    }
  }

  /**
   * `docker stop`: the image's stop signal (SIGTERM unless it names another) to the container's
   * init, then after the grace period SIGKILL to every process in it.
   */
  async stop(ref: string, options: { graceMs?: number } = {}): Promise<ExitState> {
    const record = await this.find(ref);
    const cur = await this.refresh(record);
    if (!cur) throw new LearnerError('container.notFound', { ref });
    if (cur.status !== 'running' && cur.status !== 'paused') return exitStateOf(cur.record);
    const id = launcherId(record);
    const grace = options.graceMs ?? record.limits.stopGraceMs;
    // A frozen process cannot act on a signal: thaw it so it can shut down cleanly (under the
    // lock, so a commit that froze it finishes first).
    if (cur.status === 'paused') await this.thaw(record.id, id);
    await this.runtime.kill(id, normaliseSignal(record.config.stopSignal)).catch(() => undefined);
    if (!(await this.untilStopped(record, grace))) {
      this.log.info({ container: id, graceMs: grace }, 'stop signal ignored: killing');
      await this.runtime.kill(id, 'SIGKILL', true).catch(() => undefined);
      if (!(await this.untilStopped(record, 30_000))) throw new Error(`container ${id} did not die after SIGKILL`);
    }
    return this.recordedExit(record, ref);
  }

  /** After the launcher stopped: the exit as recorded (by this call or another process), announced. */
  private async recordedExit(record: ContainerRecord, ref: string): Promise<ExitState> {
    const after = await this.locked(record.id, () => this.settle(record.id));
    if (!after) throw new LearnerError('container.notFound', { ref });
    this.emitExit(after.record);
    return exitStateOf(after.record);
  }

  /** `docker kill`: a signal (default SIGKILL, which reaches every process) to the container. */
  async kill(ref: string, signal = 'SIGKILL'): Promise<void> {
    const sig = normaliseSignal(signal);
    const cur = await this.current(ref);
    if (cur.status !== 'running' && cur.status !== 'paused') throw new LearnerError('container.notRunning', { ref });
    const id = launcherId(cur.record);
    await this.runtime.kill(id, sig, sig === 'SIGKILL');
    if (sig !== 'SIGKILL') return;
    // A frozen process dies only once thawed; and `ps` right after should say it exited.
    if (cur.status === 'paused') await this.thaw(cur.record.id, id);
    if (await this.untilStopped(cur.record, 10_000)) await this.recordedExit(cur.record, ref);
  }

  /**
   * `docker wait`: blocks until the container is not running; its exit code, OOM and time-limit
   * flags. A read: it announces nothing (stop and kill announce the exit they cause; a run job's
   * container reaches its run's events through the queue's ContainerWatch), so an exit is told
   * once however often it is waited for.
   */
  async wait(ref: string, options: { signal?: AbortSignal } = {}): Promise<ExitState> {
    const record = await this.find(ref);
    for (;;) {
      const cur = await this.refresh(record);
      if (!cur) throw new LearnerError('container.notFound', { ref });
      if (cur.status === 'created' || cur.status === 'exited') return exitStateOf(cur.record);
      await this.untilStopped(cur.record, 60_000, options.signal);
    }
  }

  // ---- output and files -------------------------------------------------------------------------

  /** `docker logs`: output from the launcher's log (kept after the container and its starter are gone). */
  async logs(ref: string, options: { tail?: number; follow?: boolean; signal?: AbortSignal } = {}): Promise<AsyncGenerator<LogChunk>> {
    const record = await this.find(ref);
    return readLogs(containerPaths(this.dataDir, record.id).output, {
      tail: options.tail,
      follow: options.follow,
      signal: options.signal,
      isRunning: async () => {
        const cur = await this.refresh(record).catch(() => null);
        return cur !== null && (cur.status === 'running' || cur.status === 'paused');
      },
    });
  }

  /** `docker diff`: what the container changed relative to its image (A/C/D), from its writable layer. */
  async diff(ref: string): Promise<Change[]> {
    const record = await this.find(ref);
    const { changes } = await this.store.diff(containerPaths(this.dataDir, record.id).upper, record.imageId).catch(keptChanging(ref));
    this.events.emit({
      type: 'container.diff',
      containerId: record.id,
      changes: changes.slice(0, DIFF_EVENT_MAX).map((c) => ({ kind: c.kind, path: c.path })),
      truncated: changes.length > DIFF_EVENT_MAX,
    });
    return changes;
  }

  /**
   * `docker commit`: the writable layer becomes a new layer on top of the container's image (a
   * copy: the container keeps its own), with the container's settings as the image's defaults.
   */
  async commit(ref: string, req: CommitRequest = {}): Promise<CommitResult> {
    const found = await this.find(ref);
    if (req.reference !== undefined) this.images.writableName(req.reference); // a bad or reserved name fails before any work
    const paths = containerPaths(this.dataDir, found.id);
    const bytes = await treeBytes(paths.upper);
    checkQuotas(await this.usage(), this.quotas, { images: 1, bytes });
    const result = await this.locked(found.id, async () => {
      const cur = await this.settle(found.id);
      if (!cur || cur.removed) throw new LearnerError('container.notFound', { ref });
      const id = launcherId(cur.record);
      // Nothing may write to the upper while it is copied: a running container is frozen
      // meanwhile, and stays so (unpause takes this lock too). With --pause=false it runs on:
      // the copy is then inconsistent in time, but still holds only the container's own files,
      // since the upper is read fd-relative (image-store/tree-beneath.ts).
      const pause = cur.status === 'running' && req.pause !== false;
      if (pause) await this.runtime.pause(id);
      try {
        const base = await this.store.inspect(cur.record.imageId);
        const parent = base.layers.at(-1)?.chainId ?? null;
        // A container running on (--pause=false) may move a file ahead of the copy, which then
        // meets it again: the copy may write twice what the layer can hold, no more.
        const maxCopyBytes = 2 * Math.max(bytes, cur.record.limits.writableLayerBytes);
        // The copy, tar and hash have a time limit of their own (the container is frozen meanwhile):
        // an upper of huge sparse files or millions of small ones stops here, not after minutes.
        const timeLimit = AbortSignal.timeout(this.commitTimeoutMs);
        const { layer } = await this.store
          .commitLayer(paths.upper, parent, { copy: true, maxCopyBytes, signal: timeLimit })
          .catch((err: unknown) => {
            if (timeLimit.aborted) throw new LearnerError('container.commitTimeLimit', { ref, seconds: Math.max(1, Math.round(this.commitTimeoutMs / 1000)) });
            throw err;
          })
          .catch(keptChanging(ref));
        const config = commitConfig(base.config, cur.record, layer.diffId, {
          message: req.message,
          author: req.author,
          created: new Date().toISOString(),
        });
        // Docker's parent link: history shows the container's image under the commit's row.
        const image = await this.store.createImage(config, { parent: base.id });
        let tag: string | null = null;
        if (req.reference !== undefined) {
          await this.images.tag(image.id, req.reference);
          tag = this.images.unqualify(this.images.qualify(req.reference));
        } else {
          await this.images.own(image.id);
        }
        return { imageId: image.id, tag, layer };
      } finally {
        if (pause) await this.runtime.resume(id).catch((err: unknown) => this.log.error({ err, container: id }, 'could not resume after commit'));
      }
    });
    const changes = result.layer.changes ?? { added: 0, changed: 0, deleted: 0 };
    this.events.emit({
      type: 'layer.committed',
      containerId: found.id,
      chainId: result.layer.chainId,
      diffId: result.layer.diffId,
      sizeBytes: result.layer.size,
      ...changes,
    });
    return result;
  }

  // ---- removal ----------------------------------------------------------------------------------

  /** With the lock held: the launcher (killed if need be), the id range, the files. */
  private async destroy(record: ContainerRecord): Promise<void> {
    const paths = containerPaths(this.dataDir, record.id);
    await this.runtime.delete(launcherId(record), true);
    this.idRanges.releaseContainer(launcherId(record));
    // The record first: from here on no process sees the container, whatever is left to delete.
    await unlink(paths.record).catch(() => undefined);
    await this.writableLayer.release(paths.layer).catch((err: unknown) => this.log.warn({ err, container: record.id }, 'could not lift the disk quota'));
    await removeLayerDir(paths.layer);
    await rm(paths.dir, { recursive: true, force: true });
    this.events.emit({ type: 'container.removed', containerId: record.id });
  }

  /** `docker rm`: refused while it runs, unless forced (then it is killed first). */
  async remove(ref: string, options: { force?: boolean } = {}): Promise<void> {
    const found = await this.find(ref);
    await this.locked(found.id, async () => {
      const cur = await this.settle(found.id);
      if (!cur) throw new LearnerError('container.notFound', { ref });
      if (cur.removed) return;
      if ((cur.status === 'running' || cur.status === 'paused') && !options.force) throw new LearnerError('container.isRunning', { ref });
      await this.destroy(cur.record);
    });
  }

  // ---- observing ----------------------------------------------------------------------------------

  /** `docker stats`: memory, pids and CPU of a running container, CPU % over `intervalMs`. */
  async stats(ref: string, options: { intervalMs?: number; signal?: AbortSignal } = {}): Promise<ContainerStats> {
    const cur = await this.current(ref);
    const base = { containerId: cur.record.id, name: cur.record.name };
    const cgroup = cur.state?.cgroup;
    let stats: ContainerStats;
    if ((cur.status === 'running' || cur.status === 'paused') && cgroup) {
      const m = await measure(cgroup, options.intervalMs ?? 1000, options.signal);
      stats = {
        ...base,
        running: true,
        memoryBytes: m.memoryBytes,
        memoryLimitBytes: m.memoryLimitBytes || cur.record.limits.memoryBytes,
        pids: m.pids,
        pidsLimit: m.pidsLimit || cur.record.limits.pidsMax,
        cpuUsageNanos: m.cpuUsageNanos,
        cpuPercent: m.cpuPercent,
      };
    } else {
      stats = { ...base, running: false, memoryBytes: 0, memoryLimitBytes: 0, pids: 0, pidsLimit: 0, cpuUsageNanos: 0, cpuPercent: 0 };
    }
    this.events.emit({
      type: 'container.stats',
      containerId: stats.containerId,
      memoryBytes: stats.memoryBytes,
      memoryLimitBytes: stats.memoryLimitBytes,
      pids: stats.pids,
      pidsLimit: stats.pidsLimit,
      cpuUsageNanos: stats.cpuUsageNanos,
      cpuPercent: stats.cpuPercent,
    });
    return stats;
  }

  /**
   * `docker pause`: every process frozen (cgroup freezer). Pause and unpause take the container's
   * lock, the one commit holds while it copies the upper of a container it froze: a learner's
   * unpause waits for the commit instead of thawing the container in the middle of it.
   */
  async pause(ref: string): Promise<void> {
    const found = await this.find(ref);
    const record = await this.locked(found.id, async () => {
      const cur = await this.settle(found.id);
      if (!cur || cur.removed) throw new LearnerError('container.notFound', { ref });
      if (cur.status === 'paused') throw new LearnerError('container.alreadyPaused', { ref });
      if (cur.status !== 'running') throw new LearnerError('container.notRunning', { ref });
      await this.runtime.pause(launcherId(cur.record));
      return cur.record;
    });
    this.events.emit({ type: 'container.paused', containerId: record.id });
  }

  async unpause(ref: string): Promise<void> {
    const found = await this.find(ref);
    const record = await this.locked(found.id, async () => {
      const cur = await this.settle(found.id);
      if (!cur || cur.removed) throw new LearnerError('container.notFound', { ref });
      if (cur.status !== 'paused') throw new LearnerError('container.notPaused', { ref });
      await this.runtime.resume(launcherId(cur.record));
      return cur.record;
    });
    this.events.emit({ type: 'container.unpaused', containerId: record.id });
  }

  /** Resumes a frozen container for stop/kill, after any commit that froze it. */
  private async thaw(containerId: string, launcher: string): Promise<void> {
    await this.locked(containerId, () => this.runtime.resume(launcher).catch(() => undefined));
  }

  /** `docker ps [-a]`: newest first. */
  async list(options: { all?: boolean } = {}): Promise<ContainerInfo[]> {
    const out: ContainerInfo[] = [];
    for (const record of await this.sessionRecords()) {
      const cur = await this.refresh(record);
      if (!cur || cur.removed) continue;
      if (!options.all && cur.status !== 'running' && cur.status !== 'paused') continue;
      out.push(await this.view(cur));
    }
    return out.sort((a, b) => byCodePoint(b.created, a.created));
  }

  async inspect(ref: string): Promise<ContainerInfo> {
    return this.view(await this.current(ref));
  }

  /** What the session's images and containers use, against its quotas. */
  async usage(): Promise<SessionUsage> {
    return this.measure(await this.sessionRecords());
  }

  private measure(records: readonly ContainerRecord[]): Promise<SessionUsage> {
    return measureUsage(this.store, this.images, records.map((r) => containerPaths(this.dataDir, r.id).upper));
  }

  /**
   * Throws unless the limits of the session's live containers and `record`'s stay within its
   * running totals. Reads the launcher's state without taking other containers' locks (a start
   * holds its own and the session's).
   */
  private async checkRunningTotals(record: ContainerRecord): Promise<void> {
    const running: RunningLimits[] = [];
    for (const other of await this.sessionRecords()) {
      if (other.id === record.id || other.state.status !== 'running') continue;
      if (isLive(await this.runtime.state(launcherId(other)))) running.push(other.limits);
    }
    checkRunningTotals(running, this.quotas, record.limits);
  }

  get sessionQuotas(): Readonly<SessionQuotas> {
    return this.quotas;
  }
}
