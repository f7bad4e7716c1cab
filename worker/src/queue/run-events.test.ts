// A run's events in its Redis stream: readable after any seq, each exactly once, in order, also
// when the run continues in another process and while a reader waits for new ones.
import { afterAll, describe, expect, it } from 'vitest';
import type { EngineEvent } from '../../../protocol/events.js';
import { runStreamKey } from '../../../queue-client/names.js';
import { readRunEvents } from '../../../queue-client/run-events.js';
import { nextSeq, RedisRunEvents, RUN_EVENTS_TTL_MS } from './run-events.js';
import { keysUnder, removeKeysUnder, testClient, testPrefix } from './test-support/redis.js';

const redis = testClient();
const prefix = testPrefix('events');

afterAll(async () => {
  await removeKeysUnder(redis, prefix);
  expect(await keysUnder(redis, prefix)).toEqual([]);
  await redis.quit();
});

const log = (text: string) => ({ type: 'build.log' as const, step: 1, stream: 'stdout' as const, text });

describe('run events in Redis', () => {
  it('stores events in the run room stream, with their seq, and reads everything after seq N', async () => {
    const sink = await RedisRunEvents.open(redis, prefix, 'r1');
    for (let i = 0; i < 250; i++) sink.emit(log(`line ${i}`));
    await sink.flush();
    expect(await redis.xlen(runStreamKey(prefix, 'r1'))).toBe(250);
    expect(runStreamKey(prefix, 'r1')).toBe(`${prefix}:events:run:r1`);
    const ttl = await redis.pttl(runStreamKey(prefix, 'r1'));
    expect(ttl).toBeGreaterThan(RUN_EVENTS_TTL_MS - 60_000);

    const all = await readRunEvents(redis, prefix, 'r1', -1);
    expect(all.map((e) => e.seq)).toEqual([...Array(250).keys()]);
    expect(all.every((e) => e.runId === 'r1')).toBe(true);

    for (const n of [0, 1, 99, 248]) {
      const after = await readRunEvents(redis, prefix, 'r1', n);
      expect(after[0]!.seq).toBe(n + 1);
      expect(after.map((e) => e.seq)).toEqual([...Array(249 - n).keys()].map((i) => i + n + 1));
    }
    expect(await readRunEvents(redis, prefix, 'r1', 249)).toEqual([]);
  });

  it('a reader paging with count sees every event once, in order', async () => {
    const seen: number[] = [];
    let after = -1;
    for (;;) {
      const page = await readRunEvents(redis, prefix, 'r1', after, { count: 37 });
      if (page.length === 0) break;
      seen.push(...page.map((e) => e.seq));
      after = page[page.length - 1]!.seq;
    }
    expect(seen).toEqual([...Array(250).keys()]);
  });

  it('a run continued by another writer (another worker) carries on from the last seq', async () => {
    const first = await RedisRunEvents.open(redis, prefix, 'r2');
    first.emit(log('a'));
    first.emit(log('b'));
    await first.flush();
    expect(await nextSeq(redis, prefix, 'r2')).toBe(2);
    const second = await RedisRunEvents.open(redis, prefix, 'r2');
    second.emit(log('c'));
    await second.flush();
    const events = await readRunEvents(redis, prefix, 'r2', -1);
    expect(events.map((e) => [e.seq, (e as Extract<EngineEvent, { type: 'build.log' }>).text])).toEqual([
      [0, 'a'],
      [1, 'b'],
      [2, 'c'],
    ]);
  });

  it('refuses to store a seq twice: a stale writer fails instead of duplicating', async () => {
    const stale = await RedisRunEvents.open(redis, prefix, 'r3');
    const fresh = await RedisRunEvents.open(redis, prefix, 'r3');
    fresh.emit(log('fresh'));
    await fresh.flush();
    stale.emit(log('stale')); // also seq 0
    await expect(stale.flush()).rejects.toThrow(/ID specified in XADD is equal or smaller/);
    expect((await readRunEvents(redis, prefix, 'r3', -1)).map((e) => (e as { text: string }).text)).toEqual(['fresh']);
  });

  it('a blocking reader gets events as they are written, none lost between reads', async () => {
    const reader = redis.duplicate();
    const sink = await RedisRunEvents.open(redis, prefix, 'r4');
    const received: number[] = [];
    const reading = (async () => {
      let after = -1;
      while (received.length < 60) {
        const page = await readRunEvents(reader, prefix, 'r4', after, { blockMs: 2000, count: 7 });
        received.push(...page.map((e) => e.seq));
        if (page.length > 0) after = page[page.length - 1]!.seq;
      }
    })();
    for (let burst = 0; burst < 6; burst++) {
      for (let i = 0; i < 10; i++) sink.emit(log(`burst ${burst} line ${i}`));
      await sink.flush();
      await new Promise((r) => setTimeout(r, 5));
    }
    await reading;
    expect(received).toEqual([...Array(60).keys()]);
    await reader.quit();
  });

  it('rejects an event that breaks the protocol where it is made', async () => {
    const sink = await RedisRunEvents.open(redis, prefix, 'r5');
    expect(() => sink.emit({ type: 'build.log', step: 0, stream: 'stdout', text: 'x' })).toThrow();
    await sink.flush();
    expect(await readRunEvents(redis, prefix, 'r5', -1)).toEqual([]);
  });

  it('an event goes out as soon as its producer yields to microtasks, not at the loop’s next turn', async () => {
    const sink = await RedisRunEvents.open(redis, prefix, 'r6');
    sink.emit(log('started'));
    // A producer that goes on without giving the loop a turn (awaits of settled promises only).
    for (let i = 0; i < 100; i++) await Promise.resolve();
    // Sent on the sink's own connection, so after the event's write if that was sent already.
    expect(await redis.xlen(runStreamKey(prefix, 'r6'))).toBe(1);
    await sink.flush();
  });

  it('opening(): events emitted before the stream’s last seq is known continue it', async () => {
    const first = await RedisRunEvents.open(redis, prefix, 'r7');
    first.emit(log('a'));
    await first.flush();
    const second = RedisRunEvents.opening(redis, prefix, 'r7');
    second.emit(log('b'));
    second.emit(log('c'));
    await second.flush();
    const events = await readRunEvents(redis, prefix, 'r7', -1);
    expect(events.map((e) => [e.seq, (e as Extract<EngineEvent, { type: 'build.log' }>).text])).toEqual([
      [0, 'a'],
      [1, 'b'],
      [2, 'c'],
    ]);
  });

  it('opening(): a new run’s first events are stored with one command, nothing read before it', async () => {
    const conn = redis.duplicate();
    const sent: string[] = [];
    const send = conn.sendCommand.bind(conn);
    conn.sendCommand = ((command: { name: string }) => {
      sent.push(command.name);
      return send(command as never);
    }) as typeof conn.sendCommand;
    await conn.ping();
    sent.length = 0;
    const sink = RedisRunEvents.opening(conn, prefix, 'r8');
    sink.emit(log('started'));
    sink.emit(log('planned'));
    await sink.flush();
    expect(sent).toEqual(['eval']);
    expect((await readRunEvents(redis, prefix, 'r8', -1)).map((e) => e.seq)).toEqual([0, 1]);
    expect(await redis.pttl(runStreamKey(prefix, 'r8'))).toBeGreaterThan(RUN_EVENTS_TTL_MS - 60_000);
    // The control: open() reads the stream's end first, then writes.
    sent.length = 0;
    const known = await RedisRunEvents.open(conn, prefix, 'r9');
    known.emit(log('started'));
    await known.flush();
    expect(sent[0]).toBe('xrevrange');
    expect(sent.length).toBeGreaterThan(1);
    await conn.quit();
  });
});
