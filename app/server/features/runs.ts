// Builds, containers and images for the session, through the session's worker host queue.
// A run's id is recorded with its session at enqueue (Redis, beside the run's events), so only
// the session that started a run can follow it; container and image operations name things
// inside the job's session, which the gateway always takes from the cookie, so another
// session's container or image is unreachable even by id.
//
// Following a run: one loop per subscription, each holding a Redis connection (from a pool,
// blocking-pool.ts) for the blocking "events after seq N" read. Each subscriber has its own
// cursor (a reload resumes at its last seq), so a shared reader would need per-subscriber
// catch-up reads anyway; a connection per open subscription (at most MAX_SUBSCRIPTIONS per
// socket) is what this costs.
// While the job waits, the loop wakes every second to send its place in line.
import { randomBytes } from 'node:crypto';
import { formatBytes, LearnerError } from '../../../protocol/errors.js';
import type { z } from 'zod';
import { containerOpJob, imageOpJob, limitErrorOf, runJob, vmJob, type JobName } from '../../../protocol/jobs.js';
import { runsRequests } from '../../../protocol/socket/runs.js';
import { WORKSPACE_LIMITS } from '../../../protocol/socket/files.js';
import { NoLiveHostError, readRunEvents, type Enqueued } from '../../../queue-client/index.js';
import { BlockingPool, type BlockingConnection } from '../blocking-pool.js';
import type { GatewayContext, GatewayServer, GatewaySocket } from '../context.js';
import { awaitOutcome, jobOutcome, jobPlace } from '../job-state.js';
import { badMessage, errorPayloadOf, SortedError } from '../replies.js';
import { Workspace } from '../workspace.js';

export const MAX_SUBSCRIPTIONS = 16;
/** A run's record lives as long as its events (queue-client: 24 h). */
const RUN_RECORD_TTL_S = 24 * 3600;
const OP_TIMEOUT_MS = 60_000;
const QUEUED_EVERY_MS = 1_000;
const LIVE_BLOCK_MS = 10_000;
/** Packets waiting to go out on one connection above which a relay waits for them to drain. */
const UNSENT_HIGH_WATER = 256;

interface RunRecord {
  session: string;
  job: JobName;
  jobId: string;
  queue: string;
  hostId: string;
}

function newRunId(kind: string): string {
  return `${kind}-${randomBytes(9).toString('base64url').replace(/[^A-Za-z0-9]/g, 'x')}`;
}

export function register(io: GatewayServer, ctx: GatewayContext): void {
  const recordKey = (runId: string) => `${ctx.prefix}:gateway:run:${runId}`;
  const pool = new BlockingPool(ctx.redis);
  ctx.onClose(() => pool.close());

  async function enqueue(name: JobName, sessionId: string, runId: string, job: object): Promise<Enqueued> {
    let enqueued: Enqueued;
    try {
      enqueued = await ctx.dispatcher.enqueue(name, { ...job, sessionId, runId });
    } catch (err) {
      if (err instanceof NoLiveHostError) throw new LearnerError('queue.noHost');
      throw err;
    }
    // Builds, runs and VMs are followed (runs:subscribe); an operation's outcome is its reply, so
    // polling lists and inspects leaves no record behind.
    if (name === 'build' || name === 'run' || name === 'vm') {
      const record: RunRecord = { session: sessionId, job: name, jobId: enqueued.jobId, queue: enqueued.queue, hostId: enqueued.hostId };
      await ctx.redis.set(recordKey(runId), JSON.stringify(record), 'EX', RUN_RECORD_TTL_S);
    }
    return enqueued;
  }

  /** The run's record, only if it is this session's: any other id is simply not found. */
  async function ownRun(sessionId: string, runId: string): Promise<RunRecord> {
    const raw = await ctx.redis.get(recordKey(runId));
    const record = raw ? (JSON.parse(raw) as RunRecord) : null;
    if (!record || record.session !== sessionId) throw new LearnerError('runs.notFound', { runId });
    return record;
  }

  async function buildJobFromWorkspace(sessionId: string, request: { dockerfilePath: string }) {
    const files = await new Workspace(ctx.redis, ctx.prefix, sessionId).readAll();
    const dockerfile = files.find((f) => f.info.path === request.dockerfilePath);
    if (!dockerfile) throw new LearnerError('build.dockerfileMissing', { path: request.dockerfilePath });
    if (!dockerfile.info.text) throw new LearnerError('build.dockerfileNotText', { path: request.dockerfilePath });
    if (dockerfile.bytes.length > WORKSPACE_LIMITS.dockerfileBytes) {
      throw new LearnerError('build.dockerfileTooLarge', { size: formatBytes(dockerfile.bytes.length), limit: formatBytes(WORKSPACE_LIMITS.dockerfileBytes) });
    }
    return {
      dockerfile: dockerfile.bytes.toString('utf8'),
      context: files.map(({ info, bytes }) => ({
        path: info.path,
        content: bytes.toString(info.text ? 'utf8' : 'base64'),
        encoding: info.text ? ('utf8' as const) : ('base64' as const),
        mode: info.mode,
      })),
    };
  }

  /**
   * A run, container-op or image-op job from the learner's fields and the gateway's ids, checked
   * in full: a limit out of its range is the engine's own learner error, anything else a bad message.
   */
  function fullJob<S extends typeof runJob | typeof vmJob | typeof containerOpJob | typeof imageOpJob>(schema: S, request: Record<string, unknown>, sessionId: string, runId: string): z.output<S> {
    const job = { ...request, sessionId, runId };
    const parsed = schema.safeParse(job);
    if (!parsed.success) throw limitErrorOf(job) ?? badMessage(parsed.error);
    return parsed.data as z.output<S>;
  }

  io.on('connection', (socket) => {
    const subscriptions = new Map<string, Subscription>();
    socket.on('disconnect', () => {
      for (const s of subscriptions.values()) s.stop();
      subscriptions.clear();
    });

    ctx.handle(
      socket,
      'runs:build',
      runsRequests['runs:build'],
      async (request, sessionId) => {
        const runId = newRunId('build');
        await enqueue('build', sessionId, runId, { ...request, ...(await buildJobFromWorkspace(sessionId, request)) });
        return { runId };
      },
      { rate: 'builds' },
    );

    ctx.handle(
      socket,
      'runs:run',
      runsRequests['runs:run'],
      async (request, sessionId) => {
        const runId = newRunId('run');
        await enqueue('run', sessionId, runId, fullJob(runJob, request, sessionId, runId));
        return { runId };
      },
      { rate: 'runs' },
    );

    // The image booted as a VM: the job lasts as long as the VM; the page follows its events.
    ctx.handle(
      socket,
      'runs:vm',
      runsRequests['runs:vm'],
      async (request, sessionId) => {
        const runId = newRunId('vm');
        await enqueue('vm', sessionId, runId, fullJob(vmJob, request, sessionId, runId));
        return { runId };
      },
      { rate: 'runs' },
    );

    // Container and image operations: the job's outcome is the reply.
    for (const [event, job, schema] of [
      ['runs:container', 'container-op', containerOpJob],
      ['runs:image', 'image-op', imageOpJob],
    ] as const) {
      ctx.handle(
        socket,
        event,
        runsRequests[event],
        async (request, sessionId) => {
          const runId = newRunId('op');
          const enqueued = await enqueue(job, sessionId, runId, fullJob(schema, request, sessionId, runId));
          const outcome = await awaitOutcome(ctx.dispatcher, enqueued, job, OP_TIMEOUT_MS);
          if (!outcome.ok) throw new SortedError(outcome.error);
          return { runId, result: outcome.result };
        },
        { rate: 'operations' },
      );
    }

    ctx.handle(socket, 'runs:subscribe', runsRequests['runs:subscribe'], async ({ runId, afterSeq }, sessionId) => {
      const record = await ownRun(sessionId, runId);
      subscriptions.get(runId)?.stop();
      subscriptions.delete(runId);
      if (subscriptions.size >= MAX_SUBSCRIPTIONS) throw new LearnerError('runs.tooManySubscriptions', { limit: MAX_SUBSCRIPTIONS });
      const subscription = new Subscription(ctx, pool, socket, runId, record, afterSeq);
      subscriptions.set(runId, subscription);
      subscription.start(() => subscriptions.get(runId) === subscription && subscriptions.delete(runId));
      return {};
    });

    ctx.handle(socket, 'runs:unsubscribe', runsRequests['runs:unsubscribe'], async ({ runId }) => {
      subscriptions.get(runId)?.stop();
      subscriptions.delete(runId);
      return {};
    });
  });
}

/** One socket following one run: events after its cursor, its place in line, its outcome. */
class Subscription {
  private stopped = false;
  private connection: BlockingConnection | null = null;

  constructor(
    private readonly ctx: GatewayContext,
    private readonly pool: BlockingPool,
    private readonly socket: GatewaySocket,
    private readonly runId: string,
    private readonly record: RunRecord,
    private afterSeq: number,
  ) {}

  start(onEnd: () => void): void {
    void this.loop()
      .catch((err: unknown) => {
        if (this.stopped) return;
        const error = errorPayloadOf(err, this.ctx.log, { runId: this.runId, session: this.record.session });
        this.socket.emit('runs:done', { runId: this.runId, ok: false, error });
      })
      .finally(() => {
        if (this.connection) this.pool.give(this.connection);
        onEnd();
      });
  }

  stop(): void {
    this.stopped = true;
    // Ends a blocking read at once (it returns empty; the loop sees `stopped`).
    if (this.connection) void this.pool.unblock(this.connection);
  }

  private emitEvents(events: Awaited<ReturnType<typeof readRunEvents>>): void {
    for (const event of events) {
      if (event.seq <= this.afterSeq) continue;
      this.afterSeq = event.seq;
      this.socket.emit('runs:event', { runId: this.runId, event });
    }
  }

  /**
   * A browser that reads slowly (a huge build log on a slow link) holds the relay back instead
   * of piling the events up in this process: wait while the connection's unsent packets are many.
   */
  private async drained(): Promise<void> {
    const conn = this.socket.conn as unknown as { writeBuffer: unknown[]; once(event: 'drain' | 'close', fn: () => void): void };
    if (conn.writeBuffer.length < UNSENT_HIGH_WATER) return;
    await new Promise<void>((resolve) => {
      conn.once('drain', resolve);
      conn.once('close', resolve);
    });
  }

  private async loop(): Promise<void> {
    const { ctx, record } = this;
    // The job has often started before the page subscribes (the reply to runs:build came first):
    // what is stored goes out now, before the queue is asked where the job is.
    const [stored, connection] = await Promise.all([readRunEvents(ctx.redis, ctx.prefix, this.runId, this.afterSeq, { count: 500 }), this.pool.take()]);
    this.connection = connection;
    if (this.stopped) return;
    this.emitEvents(stored);
    let ended = false;
    while (!this.stopped) {
      if (!ended) {
        const place = await jobPlace(ctx.dispatcher, record);
        if (place.state === 'waiting') this.socket.emit('runs:queued', { runId: this.runId, position: place.position, etaMs: place.etaMs });
        if (place.state === 'ended' || place.state === 'gone') {
          // Everything the job stored before it ended goes out before its outcome.
          this.emitEvents(await readRunEvents(ctx.redis, ctx.prefix, this.runId, this.afterSeq, { count: 10_000 }));
          const outcome = place.state === 'ended' ? await jobOutcome(ctx.dispatcher, record, record.job) : null;
          if (outcome && !this.stopped) this.socket.emit('runs:done', { runId: this.runId, ...outcome });
          // A build has nothing more to say once its job ended; a run's container goes on.
          if (record.job === 'build') break;
          ended = true;
          continue;
        }
      }
      // A stop() between this check and the read reaching Redis unblocks nothing: that read then
      // runs out its block time (≤ 10 s, sending nothing) before the connection goes back.
      if (this.stopped) break;
      const events = await readRunEvents(this.connection.redis, ctx.prefix, this.runId, this.afterSeq, {
        blockMs: ended ? LIVE_BLOCK_MS : QUEUED_EVERY_MS,
        count: 500,
      }).catch((err: unknown) => {
        if (this.stopped) return [];
        throw err;
      });
      if (!this.stopped) this.emitEvents(events);
      await this.drained();
    }
  }
}
