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
 * wait on Redis); events are written in order, batched per tick, and `flush()` resolves when all
 * emitted so far are stored (or rejects with the first write error).
 */
export class RedisRunEvents extends RunEvents {
  private pending: EngineEvent[] = [];
  private writing: Promise<void> = Promise.resolve();
  private failure: unknown = null;
  private scheduled = false;

  private constructor(
    private readonly redis: Redis,
    private readonly key: string,
    runId: string,
    startSeq: number,
    private readonly onStored?: (last: EngineEvent) => Promise<unknown> | void,
  ) {
    super(runId, (event) => this.enqueue(event), startSeq);
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

  private enqueue(event: EngineEvent): void {
    this.pending.push(event);
    if (this.scheduled) return;
    this.scheduled = true;
    // One MULTI per tick: a burst of build.log lines costs one round trip, not one each.
    setImmediate(() => {
      this.scheduled = false;
      const batch = this.pending;
      this.pending = [];
      this.writing = this.writing.then(() => this.write(batch)).catch((err: unknown) => {
        this.failure ??= err;
      });
    });
  }

  private async write(batch: EngineEvent[]): Promise<void> {
    if (batch.length === 0 || this.failure) return;
    const multi = this.redis.multi();
    for (const event of batch) multi.xadd(this.key, streamIdOf(event.seq), 'type', event.type, 'event', JSON.stringify(event));
    multi.pexpire(this.key, RUN_EVENTS_TTL_MS);
    const results = (await multi.exec()) ?? [];
    const failed = results.find(([err]) => err);
    if (failed) throw failed[0];
    await this.onStored?.(batch[batch.length - 1]!);
  }

  async flush(): Promise<void> {
    while (this.scheduled || this.pending.length > 0) await new Promise((r) => setImmediate(r));
    await this.writing;
    if (this.failure) throw this.failure;
  }
}
