// A run's events in a Redis stream, so a browser that reconnects (to any app process) asks for
// "everything after seq N" and gets each event exactly once, in order.
//
// The stream entry id *is* the seq: event n is stored as id `0-(n+1)` (Redis ids start above
// 0-0). Redis refuses an id not greater than the last, so a seq can never be written twice, and
// "after seq N" is the exclusive range from `0-(N+1)`. A run that continues on another worker
// (re-queued at shutdown) starts from the stream's last seq + 1.
import type { Redis } from 'ioredis';
import { engineEvent, type EngineEvent } from '../../../protocol/events.js';
import { RunEvents } from '../events.js';
import { runStreamKey } from './names.js';

/** How long a run's events stay readable after its last event. */
export const RUN_EVENTS_TTL_MS = 24 * 3600 * 1000;

const idOf = (seq: number) => `0-${seq + 1}`;
const seqOf = (id: string) => Number(id.slice(id.indexOf('-') + 1)) - 1;

type Entry = [id: string, fields: string[]];

function decode(entries: Entry[]): EngineEvent[] {
  return entries.map(([id, fields]) => {
    const json = fields[fields.indexOf('event') + 1]!;
    const event = engineEvent.parse(JSON.parse(json));
    if (event.seq !== seqOf(id)) throw new Error(`run stream entry ${id} holds seq ${event.seq}`);
    return event;
  });
}

/** The seq the next event of the run gets: 0 for a new run, last + 1 for a continued one. */
export async function nextSeq(redis: Redis, prefix: string, runId: string): Promise<number> {
  const last = (await redis.xrevrange(runStreamKey(prefix, runId), '+', '-', 'COUNT', 1)) as Entry[];
  return last.length === 0 ? 0 : seqOf(last[0]![0]) + 1;
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
    for (const event of batch) multi.xadd(this.key, idOf(event.seq), 'type', event.type, 'event', JSON.stringify(event));
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

export interface ReadOptions {
  /** At most this many events (default 1000); ask again from the last seq for more. */
  count?: number;
  /** When nothing is there yet, wait this long for the next event (XREAD BLOCK). */
  blockMs?: number;
}

/**
 * Every stored event of the run with seq > afterSeq, in order (afterSeq -1: from the first).
 * A blocking read needs a connection of its own: it holds the connection while it waits.
 */
export async function readRunEvents(redis: Redis, prefix: string, runId: string, afterSeq: number, options: ReadOptions = {}): Promise<EngineEvent[]> {
  if (!Number.isInteger(afterSeq) || afterSeq < -1) throw new RangeError(`afterSeq must be an integer ≥ -1: ${afterSeq}`);
  const key = runStreamKey(prefix, runId);
  const count = options.count ?? 1000;
  const from = afterSeq === -1 ? '0-0' : idOf(afterSeq);
  if (options.blockMs === undefined) {
    return decode((await redis.xrange(key, afterSeq === -1 ? '-' : `(${from}`, '+', 'COUNT', count)) as Entry[]);
  }
  const reply = (await redis.xread('COUNT', count, 'BLOCK', options.blockMs, 'STREAMS', key, from)) as [string, Entry[]][] | null;
  return reply ? decode(reply[0]![1]) : [];
}
