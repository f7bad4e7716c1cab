// What the gateway uses to send a learner's job to the engine: validate it with the protocol
// schema, find the session's host (pinning it on first use), and add it to that host's queue.
import { Queue, QueueEvents, type JobsOptions } from 'bullmq';
import type { Redis } from 'ioredis';
import { jobSchemas, limitErrorOf, type JobName } from '../protocol/jobs.js';
import { bullmqConnection } from './connection.js';
import type { HopStamps } from './hop-stamps.js';
import { hostForSession, type PinOptions, type SessionHost } from './hosts.js';
import { queueOfJob, runRoom } from './names.js';

export interface Enqueued extends SessionHost {
  jobId: string;
  runId: string;
  /** The socket.io room whose clients want this run's events. */
  room: string;
}

export interface EnqueueOptions {
  /** The session's host, looked up already (with hostFor, beside the caller's other reads). */
  host?: SessionHost | Promise<SessionHost>;
  /** The job's id in its queue, known before it is added (unique: BullMQ adds an id only once). */
  jobId?: string;
  /** Written with the add, in the same round trip (e.g. the gateway's record of the run); awaited with it. */
  alongside?: (where: { hostId: string; queue: string }) => Promise<unknown>;
  hops?: HopStamps;
}

/** Jobs are not retried by BullMQ: a learner's build that failed should not silently run again. */
const JOB_DEFAULTS: JobsOptions = {
  attempts: 1,
  removeOnComplete: { age: 24 * 3600, count: 10_000 },
  removeOnFail: { age: 7 * 24 * 3600 },
};

export class JobDispatcher {
  private readonly queues = new Map<string, Queue>();
  private readonly events = new Map<string, Promise<QueueEvents>>();

  constructor(
    private readonly redis: Redis,
    private readonly redisUrl: string,
    private readonly prefix: string,
    private readonly pinOptions: PinOptions = {},
  ) {}

  private queue(name: string): Queue {
    let q = this.queues.get(name);
    if (!q) {
      q = new Queue(name, { connection: bullmqConnection(this.redisUrl), prefix: this.prefix, defaultJobOptions: JOB_DEFAULTS });
      this.queues.set(name, q);
    }
    return q;
  }

  /**
   * Validates `input` as a `name` job and adds it to its session's host queue. A limit beyond its
   * bounds throws the LearnerError the engine would give (container.limitOutOfRange); any other
   * malformed job a ZodError (the gateway's bug, not the learner's).
   */
  async enqueue<N extends JobName>(name: N, input: unknown, options: EnqueueOptions = {}): Promise<Enqueued> {
    const { hops } = options;
    // Parsed here as well as on the worker: a malformed job never reaches a queue.
    const parsed = jobSchemas[name].safeParse(input);
    if (!parsed.success) throw limitErrorOf(input) ?? parsed.error;
    const data = parsed.data;
    hops?.mark('parsed');
    const host = await (options.host ?? this.hostFor(data.sessionId));
    hops?.mark('host');
    // Operations go to the host's own lane for them (names.ts), builds and runs to its queue.
    const queue = queueOfJob(host.hostId, name);
    const [job] = await Promise.all([
      this.queue(queue).add(name, data, options.jobId ? { jobId: options.jobId } : undefined),
      options.alongside?.({ hostId: host.hostId, queue }),
    ]);
    return { ...host, queue, jobId: job.id!, runId: data.runId, room: runRoom(data.runId) };
  }

  /** The host a session's next job goes to (pinning it on first use): hosts.ts hostForSession. */
  hostFor(sessionId: string): Promise<SessionHost> {
    return hostForSession(this.redis, this.prefix, sessionId, this.pinOptions);
  }

  /** The queue of one host, e.g. for its waiting count (the learner's queue position). */
  hostQueue(hostQueueName: string): Queue {
    return this.queue(hostQueueName);
  }

  /**
   * BullMQ's completion events of one host queue (one blocking connection per queue, shared by
   * every wait of this dispatcher), ready to be listened to.
   */
  queueEvents(hostQueueName: string): Promise<QueueEvents> {
    let events = this.events.get(hostQueueName);
    if (!events) {
      const made = new QueueEvents(hostQueueName, { connection: bullmqConnection(this.redisUrl), prefix: this.prefix });
      events = made.waitUntilReady().then(() => made);
      this.events.set(hostQueueName, events);
    }
    return events;
  }

  /** The deployment's key prefix (names.ts keys are under it). */
  get keyPrefix(): string {
    return this.prefix;
  }

  /** The plain (non-blocking) Redis client it was given. */
  get client(): Redis {
    return this.redis;
  }

  async close(): Promise<void> {
    const events = await Promise.all([...this.events.values()].map((e) => e.catch(() => null)));
    await Promise.all([...[...this.queues.values()].map((q) => q.close()), ...events.map((e) => e?.close())]);
    this.queues.clear();
    this.events.clear();
  }
}
