// The BullMQ worker of one host: takes jobs from this host's queue only (sessions are pinned to
// hosts), validates each with its protocol schema, runs its handler with the run's events going
// to Redis, and on shutdown stops taking jobs, lets running ones finish within a grace period,
// and puts the rest back on the queue for the next worker of this host.
//
// Two lanes, each a BullMQ queue with its own concurrency: builds, runs and VMs on the host queue
// (`concurrency` slots: they are the CPU-heavy work), and container and image operations (stop,
// rm, commit, list…) on the host's operations queue, so a Stop is served while every build slot
// is busy (queue-client/names.ts queueOfJob says which job goes where).
import { Worker, WaitingError, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { jobSchemas, type JobName } from '../../../protocol/jobs.js';
import { jobResultSchemas } from '../../../protocol/results.js';
import type { EventBody } from '../../../protocol/events.js';
import type { EventSink } from '../events.js';
import { bullmqConnection, closeRedis, connectRedis } from '../../../queue-client/connection.js';
import type { Engine } from './engine.js';
import { handleBuild } from './handlers/build.js';
import { handleContainerOp } from './handlers/container-op.js';
import { handleImageOp } from './handlers/image-op.js';
import { handleRun } from './handlers/run.js';
import { handleVm } from './handlers/vm.js';
import { handlePull } from './handlers/pull.js';
import { handleCompare } from './handlers/compare.js';
import type { HandlerContext } from './handlers/types.js';
import { recordJobDuration } from './durations.js';
import { HostHeartbeat } from './heartbeat.js';
import { hostOpsQueueName, hostQueueName } from '../../../queue-client/names.js';
import { HopStamps, wallClockMs } from '../../../queue-client/hop-stamps.js';
import { InternalJobError, newErrorId, toOutcome, type JobOutcome } from './outcome.js';
import { RedisRunEvents } from './run-events.js';
import { ContainerWatch } from './container-watch.js';
import { reapIdleContainers, type ContainerAttachment } from '../containers/index.js';

// One handler per job name; each lives in its own file under handlers/.
const handlers: { [N in JobName]: (input: never, ctx: HandlerContext) => Promise<unknown> } = {
  build: handleBuild,
  run: handleRun,
  'container-op': handleContainerOp,
  'image-op': handleImageOp,
  vm: handleVm,
  pull: handlePull,
  compare: handleCompare,
};

export interface HostWorkerOptions {
  redisUrl: string;
  prefix: string;
  hostId: string;
  concurrency: number;
  heartbeatMs: number;
  engine: Engine;
  log: Logger;
  /** Container and image operations at once, on their own lane (default OPERATIONS_CONCURRENCY). */
  operationsConcurrency?: number;
  /** BullMQ's lock on a running job; a worker that dies loses its jobs after this long (default 30 s). */
  lockDurationMs?: number;
  /** How often idle containers are looked for (default 60 s). */
  reapIntervalMs?: number;
  /** This host's terminal relays: a run's container is relayed from its start. */
  terminals?: { adopt(containerId: string, session: string, attachment: ContainerAttachment): Promise<void> };
}

export interface ShutdownReport {
  /** Jobs that finished within the grace period. */
  finished: number;
  /** Jobs put back on the queue because the grace period ran out. */
  requeued: string[];
}

/** Operations at once on the operations lane: short jobs, mostly reads of one container or image. */
export const OPERATIONS_CONCURRENCY = 4;

/** Marks the abort that means "put the job back", not "the learner cancelled". */
const SHUTDOWN = 'worker shutting down';

export class HostWorker {
  private readonly redis: Redis;
  private readonly heartbeat: HostHeartbeat;
  /** The host queue's worker and the operations lane's. */
  private readonly workers: Worker[];
  private active = 0;
  private finishedDuringShutdown = 0;
  private shuttingDown = false;
  private readonly requeued: string[] = [];
  private shutdownPromise: Promise<ShutdownReport> | null = null;
  private readonly watch: ContainerWatch;
  private reaper: NodeJS.Timeout | undefined;

  private constructor(private readonly options: HostWorkerOptions) {
    this.redis = connectRedis(options.redisUrl, `layercake-worker-${options.hostId}`);
    this.heartbeat = new HostHeartbeat(this.redis, options.prefix, options.hostId, options.concurrency, options.heartbeatMs, options.log);
    const lane = (queue: string, concurrency: number) => {
      const worker = new Worker(queue, (job, token, signal) => this.process(job, token, signal), {
        connection: bullmqConnection(options.redisUrl),
        prefix: options.prefix,
        concurrency,
        autorun: false,
        ...(options.lockDurationMs ? { lockDuration: options.lockDurationMs } : {}),
      });
      worker.on('error', (err) => options.log.error({ err, queue }, 'queue worker error'));
      return worker;
    };
    this.workers = [
      lane(hostQueueName(options.hostId), options.concurrency),
      lane(hostOpsQueueName(options.hostId), options.operationsConcurrency ?? OPERATIONS_CONCURRENCY),
    ];
    this.watch = new ContainerWatch(options.engine, this.redis, options.prefix, options.hostId, options.log.child({ part: 'container-watch' }));
  }

  /** Stop containers nobody has touched for their idle timeout; their exit goes to their runs. */
  private async reapIdle(): Promise<void> {
    try {
      const reaped = await reapIdleContainers(this.options.engine);
      if (reaped.length) this.options.log.info({ reaped: reaped.length }, 'stopped idle containers');
    } catch (err) {
      this.options.log.warn({ err }, 'idle reaper failed');
    }
  }

  /** Connects, registers the host, and starts taking jobs. */
  static async start(options: HostWorkerOptions): Promise<HostWorker> {
    const w = new HostWorker(options);
    await Promise.all(w.workers.map((worker) => worker.waitUntilReady()));
    await w.heartbeat.start();
    await w.watch.resume();
    w.reaper = setInterval(() => void w.reapIdle(), options.reapIntervalMs ?? 60_000);
    w.reaper.unref();
    for (const worker of w.workers) void worker.run().catch((err: unknown) => options.log.error({ err }, 'queue worker stopped'));
    options.log.info(
      { hostId: options.hostId, queue: hostQueueName(options.hostId), concurrency: options.concurrency, operationsQueue: hostOpsQueueName(options.hostId) },
      'worker taking jobs',
    );
    return w;
  }

  get queueName(): string {
    return hostQueueName(this.options.hostId);
  }

  private async process(job: Job, token: string | undefined, signal: AbortSignal | undefined): Promise<JobOutcome<unknown>> {
    const taken = wallClockMs();
    const { log, prefix, engine } = this.options;
    const name = job.name as JobName;
    const schema = jobSchemas[name];
    const parsed = schema?.safeParse(job.data);
    if (!parsed?.success) {
      // The gateway validates before enqueueing; a job that fails here is a bug, not the learner's.
      const errorId = newErrorId();
      log.error({ jobId: job.id, name, errorId, issues: parsed?.error.issues }, 'job refused: not a valid job');
      throw new InternalJobError(errorId);
    }
    const input = parsed.data;
    const jobLog = log.child({ jobId: job.id, job: name, runId: input.runId, sessionId: input.sessionId });
    // Until the run's first event is stored: added (BullMQ's stamp, ms), taken, … (hop-stamps.ts).
    const hops = new HopStamps(log, input.runId, 'worker');
    hops.mark('added', job.timestamp);
    hops.mark('taken', taken);
    // The stream's last seq (a run re-queued at shutdown continues it) is read while the handler starts.
    const stream = RedisRunEvents.opening(this.redis, prefix, input.runId, (last) => {
      hops.mark('firstStored');
      hops.done();
      return job.updateProgress({ seq: last.seq, type: last.type });
    });
    // After a shutdown abort the handler's last events ("cancelled") are not the run's story:
    // the run goes on elsewhere, so they are not published.
    const events: EventSink = {
      emit: (body: EventBody) => {
        if (signal?.reason === SHUTDOWN) return;
        hops.mark('firstEmit');
        stream.emit(body);
      },
    };
    this.setActive(+1);
    const started = performance.now();
    try {
      const handler = handlers[name] as (input: unknown, ctx: HandlerContext) => Promise<unknown>;
      const context: HandlerContext = {
        engine,
        events,
        signal: signal ?? new AbortController().signal,
        log: jobLog,
        hops,
        watch: (id, session, runId) => this.watch.watch(id, session, runId),
        ...(this.options.terminals ? { terminal: (id: string, session: string, a: ContainerAttachment) => this.options.terminals!.adopt(id, session, a) } : {}),
      };
      let outcome: JobOutcome<unknown> | null = null;
      let failure: unknown = null;
      try {
        // The stream is flushed inside: a run whose events could not be stored is an internal
        // failure, and a re-queued job's next attempt must see every event of this one.
        const work = async () => {
          try {
            // Validated (and stripped to the schema's fields) before it is stored for the gateway:
            // a result that does not match is the engine's bug, an internal error.
            return jobResultSchemas[name].parse(await handler(input, context));
          } finally {
            await stream.flush();
          }
        };
        outcome = await toOutcome(work, jobLog, { jobId: job.id, job: name, runId: input.runId });
      } catch (err) {
        failure = err;
      }
      // Re-queue only what the abort interrupted: a job that completed just before it stands.
      if (signal?.aborted && signal.reason === SHUTDOWN && (failure || !outcome?.ok)) {
        // Back to the waiting list with its data, for this host's next worker; the stream keeps
        // what happened so far and the next attempt continues its seq.
        await job.moveToWait(token);
        this.requeued.push(job.id!);
        jobLog.warn({ step: 'shutdown' }, 'job re-queued: the grace period ran out');
        throw new WaitingError();
      }
      // For the learners waiting behind: how long this kind of job takes here (queue position).
      const ms = performance.now() - started;
      await recordJobDuration(this.redis, prefix, this.options.hostId, name, ms).catch((err: unknown) => jobLog.warn({ err }, 'could not record the job duration'));
      if (failure) throw failure;
      jobLog.info({ ms: Math.round(ms), ok: outcome!.ok }, 'job done');
      if (this.shuttingDown) this.finishedDuringShutdown++;
      return outcome!;
    } finally {
      this.setActive(-1);
    }
  }

  private setActive(delta: number): void {
    this.active += delta;
    this.heartbeat.setActive(this.active);
  }

  /**
   * Stops taking jobs, waits up to `graceMs` for running ones, then re-queues what is still
   * running (its handler is aborted: a build's running step is killed and cleaned up).
   * Detached containers are not touched: they live under their own launcher monitors.
   */
  shutdown(graceMs: number): Promise<ShutdownReport> {
    this.shutdownPromise ??= (async () => {
      const { log } = this.options;
      this.shuttingDown = true;
      clearInterval(this.reaper);
      this.watch.close();
      log.info({ step: 'shutdown', active: this.active, graceMs }, 'stopping: no new jobs');
      await this.heartbeat.stop().catch((err: unknown) => log.warn({ err }, 'could not leave the host registry'));
      const closed = Promise.all(this.workers.map((worker) => worker.close()));
      let timer: NodeJS.Timeout | undefined;
      const timedOut = await Promise.race([
        closed.then(() => false),
        new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), graceMs))),
      ]);
      clearTimeout(timer);
      if (timedOut) {
        log.warn({ step: 'shutdown', active: this.active }, 'grace period over: re-queueing running jobs');
        for (const worker of this.workers) worker.cancelAllJobs(SHUTDOWN);
        await closed;
      }
      await closeRedis(this.redis);
      const report = { finished: this.finishedDuringShutdown, requeued: [...this.requeued] };
      log.info({ step: 'shutdown', ...report }, 'worker stopped');
      return report;
    })();
    return this.shutdownPromise;
  }
}
