// Reading a run's events back from its Redis stream, so a browser that reconnects (to any app
// process) asks for "everything after seq N" and gets each event exactly once, in order.
//
// The stream entry id *is* the seq: event n is stored as id `0-(n+1)` (Redis ids start above
// 0-0). Redis refuses an id not greater than the last, so a seq can never be written twice, and
// "after seq N" is the exclusive range from `0-(N+1)`. The writer is the worker's RedisRunEvents.
import type { Redis } from 'ioredis';
import { engineEvent, type EngineEvent } from '../protocol/events.js';
import { runStreamKey } from './names.js';

/** The stream entry id of event `seq`. */
export const streamIdOf = (seq: number): string => `0-${seq + 1}`;
/** The seq a stream entry id holds. */
export const seqOfStreamId = (id: string): number => Number(id.slice(id.indexOf('-') + 1)) - 1;

export type StreamEntry = [id: string, fields: string[]];

/** Stream entries → events, each validated, and checked against the seq its id says. */
export function decodeRunEvents(entries: StreamEntry[]): EngineEvent[] {
  return entries.map(([id, fields]) => {
    const json = fields[fields.indexOf('event') + 1]!;
    const event = engineEvent.parse(JSON.parse(json));
    if (event.seq !== seqOfStreamId(id)) throw new Error(`run stream entry ${id} holds seq ${event.seq}`);
    return event;
  });
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
  const from = afterSeq === -1 ? '0-0' : streamIdOf(afterSeq);
  if (options.blockMs === undefined) {
    return decodeRunEvents((await redis.xrange(key, afterSeq === -1 ? '-' : `(${from}`, '+', 'COUNT', count)) as StreamEntry[]);
  }
  const reply = (await redis.xread('COUNT', count, 'BLOCK', options.blockMs, 'STREAMS', key, from)) as [string, StreamEntry[]][] | null;
  return reply ? decodeRunEvents(reply[0]![1]) : [];
}
