// Writing a run's events to its Redis stream; the reading half (readRunEvents) is the gateway's,
// in queue-client/run-events.ts, with the id scheme: the stream entry id *is* the seq, so Redis
// itself refuses a seq twice. A run that continues on another worker (re-queued at shutdown)
// starts from the stream's last seq + 1.
import type { Redis } from 'ioredis';
import type { EngineEvent } from '../../../protocol/events.js';
import { runStreamKey } from '../../../queue-client/names.js';
import { seqOfStreamId, streamIdOf, type StreamEntry } from '../../../queue-client/run-events.js';
import { RunEvents } from '../events.js';

/** How long a run's events stay readable after its last event. */
export const RUN_EVENTS_TTL_MS = 24 * 3600 * 1000;

/** The seq the next event of the run gets: 0 for a new run, last + 1 for a continued one. */
export async function nextSeq(redis: Redis, prefix: string, runId: string): Promise<number> {
  const last = (await redis.xrevrange(runStreamKey(prefix, runId), '+', '-', 'COUNT', 1)) as StreamEntry[];
  return last.length === 0 ? 0 : seqOfStreamId(last[0]![0]) + 1;
}

/**
 * An EventSink that appends to the run's stream. Emitting is synchronous (producers must not
 * wait on Redis); events are written in order, and `flush()` resolves when all emitted so far
 * are stored (or rejects with the first write error).
 *
 * When no write is under way, what was emitted goes out as soon as its producer yields (a
 * microtask): the builder's work after `build.started` must not hold the event back, as a write
 * scheduled for the loop's next turn was (1–32 ms). While a write is under way, events pile up
 * and go together when it ends: a burst of build.log lines costs a round trip per batch, not per line.
 */
export class RedisRunEvents extends RunEvents {
  private pending: EngineEvent[] = [];
  /** The writes under way (ending when nothing is pending), null when idle. */
  private writing: Promise<void> | null = null;
  private scheduled = false;
  private failure: unknown = null;
  /** The job's progress, kept in order beside the writes (it need not hold the next one back). */
  private progress: Promise<void> = Promise.resolve();
  /** Added to each event's seq as it is written (opening(): the stream's next seq, read meanwhile). */
  private readonly base: Promise<number>;

  private constructor(
    private readonly redis: Redis,
    private readonly key: string,
    runId: string,
    startSeq: number | Promise<number>,
    private readonly onStored?: (last: EngineEvent) => Promise<unknown> | void,
  ) {
    super(runId, (event) => this.enqueue(event), typeof startSeq === 'number' ? startSeq : 0);
    this.base = typeof startSeq === 'number' ? Promise.resolve(0) : startSeq;
    this.base.catch((err: unknown) => {
      this.failure ??= err;
    });
  }

  /** Opens the run's stream, continuing its seq if it already has events. */
  static async open(
    redis: Redis,
    prefix: string,
    runId: string,
    onStored?: (last: EngineEvent) => Promise<unknown> | void,
  ): Promise<RedisRunEvents> {
    return new RedisRunEvents(redis, runStreamKey(prefix, runId), runId, await nextSeq(redis, prefix, runId), onStored);
  }

  /**
   * The same, at once: the stream's last seq is read while the producer starts its work (a round
   * trip off the way to a run's first event); events emitted meanwhile get their seq when written.
   */
  static opening(redis: Redis, prefix: string, runId: string, onStored?: (last: EngineEvent) => Promise<unknown> | void): RedisRunEvents {
    return new RedisRunEvents(redis, runStreamKey(prefix, runId), runId, nextSeq(redis, prefix, runId), onStored);
  }

  private enqueue(event: EngineEvent): void {
    this.pending.push(event);
    this.schedule();
  }

  private schedule(): void {
    // A write under way takes what piled up when it ends.
    if (this.scheduled || this.writing) return;
    this.scheduled = true;
    queueMicrotask(() => {
      this.scheduled = false;
      const writing = this.drain();
      this.writing = writing;
      void writing.then(() => {
        if (this.writing !== writing) return;
        this.writing = null;
        if (this.pending.length > 0) this.schedule();
      });
    });
  }

  private async drain(): Promise<void> {
    while (this.pending.length > 0) {
      const batch = this.pending;
      this.pending = [];
      await this.write(batch).catch((err: unknown) => {
        this.failure ??= err;
      });
    }
  }

  private async write(emitted: EngineEvent[]): Promise<void> {
    const base = await this.base.catch(() => 0);
    if (this.failure) return;
    const batch = base === 0 ? emitted : emitted.map((event) => ({ ...event, seq: event.seq + base }));
    const multi = this.redis.multi();
    for (const event of batch) multi.xadd(this.key, streamIdOf(event.seq), 'type', event.type, 'event', JSON.stringify(event));
    multi.pexpire(this.key, RUN_EVENTS_TTL_MS);
    const results = (await multi.exec()) ?? [];
    const failed = results.find(([err]) => err);
    if (failed) throw failed[0];
    const onStored = this.onStored;
    if (!onStored) return;
    const last = batch[batch.length - 1]!;
    this.progress = this.progress
      .then(() => onStored(last))
      .then(
        () => undefined,
        (err: unknown) => {
          this.failure ??= err;
        },
      );
  }

  async flush(): Promise<void> {
    while (this.scheduled || this.writing) await (this.writing ?? new Promise((r) => setImmediate(r)));
    await this.progress;
    if (this.failure) throw this.failure;
  }
}
