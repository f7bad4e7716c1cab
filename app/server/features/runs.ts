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
import { FOLLOWS_STARTED_RUNS, runsRequests } from '../../../protocol/socket/runs.js';
import type { EngineEvent } from '../../../protocol/events.js';
import { WORKSPACE_LIMITS } from '../../../protocol/socket/files.js';
import { NoLiveHostError, readRunEvents, type Enqueued, type SessionHost } from '../../../queue-client/index.js';
import { HopStamps } from '../../../queue-client/hop-stamps.js';
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
/** A new run's first event is waited for this long before the queue is asked where its job is. */
const FIRST_EVENT_WAIT_MS = 150;
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

  /**
   * Adds the job to its session's host queue. A build, run or VM is followed (runs:subscribe): its
   * record (who may follow it, which job it is) is written with the add, in the same round trip,
   * under the run's id, which is also the job's; an operation's outcome is its reply, so polling
   * lists and inspects leaves no record behind.
   */
  async function enqueue(name: JobName, sessionId: string, runId: string, job: object, options: { host?: Promise<SessionHost>; hops?: HopStamps } = {}): Promise<Enqueued> {
    const followed = name === 'build' || name === 'run' || name === 'vm';
    const record = ({ hostId, queue }: { hostId: string; queue: string }) => {
      const value: RunRecord = { session: sessionId, job: name, jobId: runId, queue, hostId };
      return ctx.redis.set(recordKey(runId), JSON.stringify(value), 'EX', RUN_RECORD_TTL_S);
    };
    try {
      const enqueued = await ctx.dispatcher.enqueue(name, { ...job, sessionId, runId }, {
        ...(options.host ? { host: options.host } : {}),
        ...(followed ? { jobId: runId, alongside: record } : {}),
        ...(options.hops ? { hops: options.hops } : {}),
      });
      options.hops?.mark('added');
      return enqueued;
    } catch (err) {
      if (err instanceof NoLiveHostError) throw new LearnerError('queue.noHost');
      throw err;
    }
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
      for (const sub of subscriptions.values()) sub.stop();
      subscriptions.clear();
    });
    // A client that keeps every run's messages from its first moment (protocol/socket/runs.ts
    // FOLLOWS_STARTED_RUNS) is sent the runs it starts from their first event on, without
    // waiting for its runs:subscribe: a round trip less between the click and the first event.
    const followsStartedRuns = (socket.handshake.auth as Record<string, unknown> | undefined)?.[FOLLOWS_STARTED_RUNS] === true;

    /** Room for one more subscription? Ones that ended (kept for their runs:subscribe) go first. */
    function hasRoom(): boolean {
      if (subscriptions.size >= MAX_SUBSCRIPTIONS) for (const [runId, sub] of subscriptions) if (sub.ended) subscriptions.delete(runId);
      return subscriptions.size < MAX_SUBSCRIPTIONS;
    }

    function follow(runId: string, record: RunRecord, afterSeq: number, stored: Promise<EngineEvent[]> | null, hops: HopStamps, startedHere: boolean): void {
      const subscription = new Subscription(ctx, pool, socket, runId, record, afterSeq, stored, hops, startedHere);
      subscriptions.set(runId, subscription);
      // One that followed a run from its start stays listed after it ended (until its runs:subscribe
      // or runs:unsubscribe comes), so that runs:subscribe is not answered with the run a second time.
      subscription.start(() => !subscription.awaitingClaim && subscriptions.get(runId) === subscription && subscriptions.delete(runId));
    }

    /** Enqueues a followed job (build, run, vm) and, for such a client, follows it from its start. */
    async function startRun(name: 'build' | 'run' | 'vm', sessionId: string, runId: string, job: object, options: { host?: Promise<SessionHost>; hops?: HopStamps } = {}): Promise<{ runId: string }> {
      const enqueued = await enqueue(name, sessionId, runId, job, options);
      if (followsStartedRuns && hasRoom()) {
        const record: RunRecord = { session: sessionId, job: name, jobId: enqueued.jobId, queue: enqueued.queue, hostId: enqueued.hostId };
        // Its first message goes out after a Redis reply, so after this request's reply.
        follow(runId, record, -1, null, new HopStamps(ctx.log, runId, 'subscription'), true);
      }
      options.hops?.done();
      return { runId };
    }

    ctx.handle(socket, 'runs:build', runsRequests['runs:build'], async (request, sessionId) => {
      const runId = newRunId('build');
      const hops = new HopStamps(ctx.log, runId, 'gateway');
      hops.mark('handler');
      // The rate limit, the learner's files and the session's host are asked for side by side
      // (one round trip, not four in a row); nothing is queued unless the limit lets it through.
      const host = ctx.dispatcher.hostFor(sessionId);
      host.catch(() => undefined);
      const [, files] = await Promise.all([ctx.limiter.take(sessionId, 'builds'), buildJobFromWorkspace(sessionId, request)]);
      hops.mark('workspace');
      return startRun('build', sessionId, runId, { ...request, ...files }, { host, hops });
    });

    ctx.handle(
      socket,
      'runs:run',
      runsRequests['runs:run'],
      async (request, sessionId) => {
        const runId = newRunId('run');
        return startRun('run', sessionId, runId, fullJob(runJob, request, sessionId, runId));
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
        return startRun('vm', sessionId, runId, fullJob(vmJob, request, sessionId, runId));
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
      const hops = new HopStamps(ctx.log, runId, 'subscription');
      hops.mark('handler');
      const current = subscriptions.get(runId);
      // Following it since its start: everything sent went out on this connection after the reply
      // that named the run, and such a client kept it; so it goes on (or had its end), nothing twice.
      if (current?.awaitingClaim && afterSeq <= current.cursor) {
        current.awaitingClaim = false;
        if (current.ended) subscriptions.delete(runId);
        return {};
      }
      // What is stored is read beside the ownership check; none of it goes out unless the run is this session's.
      const stored = readRunEvents(ctx.redis, ctx.prefix, runId, afterSeq, { count: 500 });
      stored.catch(() => undefined);
      const record = await ownRun(sessionId, runId);
      hops.mark('owned');
      subscriptions.get(runId)?.stop();
      subscriptions.delete(runId);
      if (!hasRoom()) throw new LearnerError('runs.tooManySubscriptions', { limit: MAX_SUBSCRIPTIONS });
      follow(runId, record, afterSeq, stored, hops, false);
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
  /** The loop is over (the build's job ended, an error was sent, or it was stopped). */
  ended = false;
  /** Started with the run (FOLLOWS_STARTED_RUNS) and the client's runs:subscribe for it has not come yet. */
  awaitingClaim: boolean;

  constructor(
    private readonly ctx: GatewayContext,
    private readonly pool: BlockingPool,
    private readonly socket: GatewaySocket,
    private readonly runId: string,
    private readonly record: RunRecord,
    private afterSeq: number,
    /** The events after `afterSeq` already being read (null: read them here). */
    private readonly stored: Promise<EngineEvent[]> | null,
    /** Until its first event went out. */
    private readonly hops: HopStamps,
    private readonly startedHere: boolean,
  ) {
    this.awaitingClaim = startedHere;
  }

  /** The last seq sent. */
  get cursor(): number {
    return this.afterSeq;
  }

  start(onEnd: () => void): void {
    void this.loop()
      .catch((err: unknown) => {
        if (this.stopped) return;
        const error = errorPayloadOf(err, this.ctx.log, { runId: this.runId, session: this.record.session });
        this.socket.emit('runs:done', { runId: this.runId, ok: false, error });
      })
      .finally(() => {
        this.ended = true;
        this.hops.done();
        if (this.connection) this.pool.give(this.connection);
        onEnd();
      });
  }

  stop(): void {
    this.stopped = true;
    // Ends a blocking read at once (it returns empty; the loop sees `stopped`).
    if (this.connection) void this.pool.unblock(this.connection);
  }

  /** `how`: which read found them (for the hop stamps). */
  private emitEvents(events: EngineEvent[], how: string): void {
    for (const event of events) {
      if (event.seq <= this.afterSeq) continue;
      this.afterSeq = event.seq;
      this.socket.emit('runs:event', { runId: this.runId, event });
      this.hops.mark(`event.${how}`);
      this.hops.done();
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

  /** The next events after the cursor, waiting up to `blockMs` for them. */
  private async read(blockMs: number): Promise<EngineEvent[]> {
    // A stop() between this check and the read reaching Redis unblocks nothing: that read then
    // runs out its block time (≤ 10 s, sending nothing) before the connection goes back.
    if (this.stopped) return [];
    return readRunEvents(this.connection!.redis, this.ctx.prefix, this.runId, this.afterSeq, { blockMs, count: 500 }).catch((err: unknown) => {
      if (this.stopped) return [];
      throw err;
    });
  }

  private async loop(): Promise<void> {
    const { ctx, record } = this;
    // The job has often started before the page subscribes (the reply to runs:build came first):
    // what is stored goes out now, before the queue is asked where the job is. A run started on
    // this connection a moment ago is not read first: the blocking read below returns at once with
    // what is there, a round trip less when the worker was quicker than that read.
    const stored = this.stored ?? (this.startedHere ? Promise.resolve([]) : readRunEvents(ctx.redis, ctx.prefix, this.runId, this.afterSeq, { count: 500 }));
    const [events, connection] = await Promise.all([stored, this.pool.take()]);
    this.connection = connection;
    this.hops.mark('stored');
    if (this.stopped) return;
    this.emitEvents(events, 'stored');
    // A job that starts at once (an idle queue) is never told it waits: its first event is
    // waited for a moment before the queue is asked (several round trips) where the job is.
    if (events.length === 0) {
      this.emitEvents(await this.read(FIRST_EVENT_WAIT_MS), 'read');
      await this.drained();
    }
    let ended = false;
    while (!this.stopped) {
      if (!ended) {
        const place = await jobPlace(ctx.dispatcher, record);
        this.hops.mark(`place.${place.state}`);
        if (place.state === 'waiting') this.socket.emit('runs:queued', { runId: this.runId, position: place.position, etaMs: place.etaMs });
        if (place.state === 'ended' || place.state === 'gone') {
          // Everything the job stored before it ended goes out before its outcome.
          this.emitEvents(await readRunEvents(ctx.redis, ctx.prefix, this.runId, this.afterSeq, { count: 10_000 }), 'ended');
          const outcome = place.state === 'ended' ? await jobOutcome(ctx.dispatcher, record, record.job) : null;
          if (outcome && !this.stopped) this.socket.emit('runs:done', { runId: this.runId, ...outcome });
          // A build has nothing more to say once its job ended; a run's container goes on.
          if (record.job === 'build') break;
          ended = true;
          continue;
        }
      }
      const events = await this.read(ended ? LIVE_BLOCK_MS : QUEUED_EVERY_MS);
      if (!this.stopped) this.emitEvents(events, 'read');
      await this.drained();
    }
  }
}
