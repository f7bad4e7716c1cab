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
 * The first write of a run whose seq is not known yet (opening()): appends the batch only if the
 * stream has no entry, in one round trip; otherwise appends nothing and returns the last entry's
 * id, and the batch is numbered after it. A new run's first event so waits for one round trip,
 * not a read of the stream's end and then a write.
 */
const APPEND_IF_NEW = `
local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
if #last > 0 then return last[1][1] end
for i = 2, #ARGV, 3 do redis.call('XADD', KEYS[1], ARGV[i], 'type', ARGV[i + 1], 'event', ARGV[i + 2]) end
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return false`;

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
  /** Added to each event's seq as it is written; null until the first write learns it (opening()). */
  private base: number | null;

  private constructor(
    private readonly redis: Redis,
    private readonly key: string,
    runId: string,
    startSeq: number | null,
    private readonly onStored?: (last: EngineEvent) => Promise<unknown> | void,
  ) {
    super(runId, (event) => this.enqueue(event), startSeq ?? 0);
    this.base = startSeq === null ? null : 0;
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
   * The same, at once: nothing is read first. The first write appends only to an empty stream
   * (APPEND_IF_NEW); a run that has events already (re-queued at shutdown) has that write numbered
   * after its last event and sent again.
   */
  static opening(redis: Redis, prefix: string, runId: string, onStored?: (last: EngineEvent) => Promise<unknown> | void): RedisRunEvents {
    return new RedisRunEvents(redis, runStreamKey(prefix, runId), runId, null, onStored);
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
    if (this.failure) return;
    if (this.base === null) {
      const entries = emitted.flatMap((event) => [streamIdOf(event.seq), event.type, JSON.stringify(event)]);
      const last = (await this.redis.eval(APPEND_IF_NEW, 1, this.key, RUN_EVENTS_TTL_MS, ...entries)) as string | null;
      this.base = last === null ? 0 : seqOfStreamId(last) + 1;
      if (last === null) {
        this.stored(emitted);
        return;
      }
    }
    const base = this.base;
    const batch = base === 0 ? emitted : emitted.map((event) => ({ ...event, seq: event.seq + base }));
    const multi = this.redis.multi();
    for (const event of batch) multi.xadd(this.key, ...entryOf(event));
    multi.pexpire(this.key, RUN_EVENTS_TTL_MS);
    const results = (await multi.exec()) ?? [];
    const failed = results.find(([err]) => err);
    if (failed) throw failed[0];
    this.stored(batch);
  }

  private stored(batch: EngineEvent[]): void {
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

/** An event's stream entry: its id (the seq), then its fields. */
function entryOf(event: EngineEvent): [id: string, 'type', string, 'event', string] {
  return [streamIdOf(event.seq), 'type', event.type, 'event', JSON.stringify(event)];
}
