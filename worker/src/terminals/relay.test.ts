// The terminal relay on a real sandbox and a real Redis: what a container writes reaches every
// viewer exactly once and in order, however slowly it acks (the container is held back, not
// cut off); a viewer that comes back after offset N gets exactly the rest; the exit ends the
// relay and is told; a restarted worker relays the same shell again; another session's
// container is not reachable.
import type { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, beforeEach, expect, it } from 'vitest';
import { requestTerminal, terminalKeys, TerminalInputWriter } from '../../../queue-client/terminal-streams.js';
import { createHarness, eventually, type Harness } from '../containers/test-support/harness.js';
import { keysUnder, removeKeysUnder, testClient, testPrefix, testRedisUrl } from '../queue/test-support/redis.js';
import type { Engine } from '../queue/engine.js';
import { handleRun } from '../queue/handlers/run.js';
import { TerminalRelays } from './relays.js';
import { watchTerminal } from './test-support/viewer.js';

const HOST = 'terminal-test';
let h: Harness;
let redis: Redis;
let prefix: string;
let relays: TerminalRelays | null = null;

beforeAll(async () => {
  h = await createHarness('terminal');
  redis = testClient();
});
beforeEach(() => {
  prefix = testPrefix('terminal');
});
afterEach(async () => {
  await relays?.close();
  relays = null;
  await h.clean();
  await removeKeysUnder(redis, prefix);
});
afterAll(async () => {
  await h?.close();
  await redis?.quit();
});

async function startRelays(limits = {}): Promise<TerminalRelays> {
  relays = await TerminalRelays.start({ engine: h.engine, redisUrl: testRedisUrl(), prefix, hostId: HOST, log: pino({ level: 'silent' }), limits });
  return relays;
}

/** A container that waits for one line of input, then runs `script` (so nothing is written before the relay listens). */
async function waitingContainer(script: string, tty = false): Promise<string> {
  const { container } = await h.containers().run({ image: 'busybox', cmd: ['sh', '-c', `read go; ${script}`], tty, openStdin: true });
  return container.id;
}

/**
 * What an ended terminal leaves: `kept` (its output and owner, for a reload), and at most an input
 * stream a late ack or keystroke made again; all of them expire.
 */
async function expectOnlyExpiring(kept: string[]): Promise<void> {
  const keys = await keysUnder(redis, prefix);
  for (const k of kept) expect(keys).toContain(k);
  for (const k of keys) {
    expect(k.endsWith(':in') || kept.includes(k), k).toBe(true);
    expect(await redis.pttl(k), k).toBeGreaterThan(0);
  }
}

function expectedSeq(n: number): Buffer {
  let s = '';
  for (let i = 1; i <= n; i++) s += `${i}\n`;
  return Buffer.from(s);
}

it('a slow viewer gets every byte of 10 MB exactly once, in order, and the container is held back rather than cut off', async () => {
  const r = await startRelays({ highBytes: 256 * 1024, lowBytes: 64 * 1024 });
  const id = await waitingContainer('seq 1 1400000');
  const opened = await r.open(id, 'learner');
  expect(opened).toEqual({ ok: true, containerId: id });
  const slow = watchTerminal(redis, prefix, id, { renderDelayMs: 3, count: 2 });
  await eventually(async () => (await r.relay(id))?.state.viewers === 1);
  const relay = (await r.relay(id))!;
  await new TerminalInputWriter(redis, prefix).input(id, Buffer.from('go\n'));
  let maxBehind = 0;
  const sampler = setInterval(() => (maxBehind = Math.max(maxBehind, relay.behindBytes())), 5);
  const code = await slow.exit;
  clearInterval(sampler);
  await slow.stop();
  const expected = expectedSeq(1_400_000);
  expect(expected.length).toBeGreaterThan(10_000_000);
  expect(code).toBe(0);
  expect(slow.bytes().length).toBe(expected.length);
  expect(slow.bytes().equals(expected)).toBe(true);
  // It held the container back: paused, and never let the viewer fall much past the mark.
  expect(relay.state.pauses).toBeGreaterThan(0);
  expect(maxBehind).toBeLessThan(256 * 1024 + 256 * 1024);
}, 120_000);

it('a viewer that comes back after offset N gets exactly the rest; a fresh screen gets the kept scrollback', async () => {
  const r = await startRelays();
  const id = await waitingContainer('seq 1 20000; read more; seq 20001 40000');
  await r.open(id, 'learner');
  const writer = new TerminalInputWriter(redis, prefix);
  const first = watchTerminal(redis, prefix, id);
  await eventually(async () => (await r.relay(id))?.state.viewers === 1);
  await writer.input(id, Buffer.from('go\n'));
  const half = expectedSeq(20000);
  await eventually(() => first.offset() >= half.length);
  await first.stop();
  expect(first.bytes().equals(half)).toBe(true);

  const again = watchTerminal(redis, prefix, id, { after: first.offset() });
  const fresh = watchTerminal(redis, prefix, id);
  await eventually(async () => (await r.relay(id))?.state.viewers === 2);
  await writer.input(id, Buffer.from('more\n'));
  expect(await again.exit).toBe(0);
  expect(await fresh.exit).toBe(0);
  await again.stop();
  await fresh.stop();
  const all = expectedSeq(40000);
  expect(Buffer.concat([first.bytes(), again.bytes()]).equals(all)).toBe(true);
  // The whole output is under the scrollback bound: a fresh screen gets it all, once.
  expect(fresh.from()).toBe(0);
  expect(fresh.bytes().equals(all)).toBe(true);
});

it('two viewers, one slow, both get everything; the exit ends the relay and is reported to both', async () => {
  const r = await startRelays({ highBytes: 128 * 1024, lowBytes: 32 * 1024 });
  const id = await waitingContainer('seq 1 300000; exit 7');
  await r.open(id, 'learner');
  const fast = watchTerminal(redis, prefix, id);
  const slow = watchTerminal(redis, prefix, id, { renderDelayMs: 5, count: 1 });
  await eventually(async () => (await r.relay(id))?.state.viewers === 2);
  const relay = (await r.relay(id))!;
  await new TerminalInputWriter(redis, prefix).input(id, Buffer.from('go\n'));
  expect(await fast.exit).toBe(7);
  expect(await slow.exit).toBe(7);
  await fast.stop();
  await slow.stop();
  const expected = expectedSeq(300000);
  expect(fast.bytes().equals(expected)).toBe(true);
  expect(slow.bytes().equals(expected)).toBe(true);
  expect(relay.state.pauses).toBeGreaterThan(0);
  expect(await relay.ended).toEqual({ reason: 'exited', exitCode: 7 });
  // Ended: not registered for resumption, input gone, output and ownership kept a while.
  expect(await redis.hgetall(terminalKeys.relays(prefix, HOST))).toEqual({});
  await expectOnlyExpiring([terminalKeys.meta(prefix, id), terminalKeys.output(prefix, id)]);
  expect(await redis.hget(terminalKeys.meta(prefix, id), 'state')).toBe('exited');
  expect(await redis.pttl(terminalKeys.output(prefix, id))).toBeGreaterThan(0);
  // Asking again after the exit: the kept output (and exit) for its session, nothing for another.
  expect(await r.open(id, 'learner')).toEqual({ ok: true, containerId: id });
  expect(await r.open(id, 'intruder')).toMatchObject({ ok: false, error: { kind: 'learner', key: 'container.notFound' } });
});

it('a restarted worker relays the same shell again, with the input typed meanwhile', async () => {
  let r = await startRelays();
  const { container } = await h.containers().run({ image: 'busybox', cmd: ['sh'], tty: true, openStdin: true, env: ['PS1=$ '] });
  const id = container.id;
  const blocking = redis.duplicate();
  // Through the request stream, as a gateway asks.
  expect(await requestTerminal(redis, blocking, prefix, HOST, { sessionId: 'learner', container: id.slice(0, 12) })).toEqual({ ok: true, containerId: id });
  const writer = new TerminalInputWriter(redis, prefix);
  const before = watchTerminal(redis, prefix, id);
  await eventually(async () => (await r.relay(id))?.state.viewers === 1);
  await writer.input(id, Buffer.from('echo pid=$$.\n'));
  const pidOf = (text: string) => /pid=(\d+)\./.exec(text)?.[1];
  const pid = await eventually(() => pidOf(before.bytes().toString()));

  await r.close();
  expect(await redis.hgetall(terminalKeys.relays(prefix, HOST))).toEqual({ [id]: 'learner' });
  await writer.input(id, Buffer.from('echo again=$$.\n'));
  r = await startRelays();
  const again = await eventually(() => /again=(\d+)\./.exec(before.bytes().toString())?.[1]);
  expect(again).toBe(pid);
  // The offsets go on where they were: what the viewer had is not replayed.
  expect(before.bytes().toString().split('pid=').length).toBe(3); // the echo line and its output, once
  writer.input(id, Buffer.from('exit 3\n'));
  expect(await before.exit).toBe(3);
  await before.stop();
  blocking.disconnect();
});

it('another session asking for a container by id, short id or name is told it does not exist', async () => {
  const r = await startRelays();
  const { container } = await h.containers().run({ image: 'busybox', cmd: ['sh'], name: 'mine', tty: true, openStdin: true });
  for (const ref of [container.id, container.id.slice(0, 12), 'mine']) {
    expect(await r.open(ref, 'intruder')).toMatchObject({ ok: false, error: { key: 'container.notFound' } });
  }
  expect(await r.relay(container.id)).toBeNull();
  expect(await redis.exists(terminalKeys.meta(prefix, container.id))).toBe(0);
  // The control: its own session gets it.
  expect(await r.open('mine', 'learner')).toEqual({ ok: true, containerId: container.id });
});

it('an ended terminal leaves only keys that expire', async () => {
  const r = await startRelays();
  const id = await waitingContainer('echo done');
  await r.open(id, 'learner');
  const v = watchTerminal(redis, prefix, id);
  await eventually(async () => (await r.relay(id))?.state.viewers === 1);
  await new TerminalInputWriter(redis, prefix).input(id, Buffer.from('go\n'));
  await v.exit;
  await v.stop();
  await (await r.relay(id))?.ended;
  await expectOnlyExpiring([terminalKeys.meta(prefix, id), terminalKeys.output(prefix, id)]);
});

it('a terminal adopted from the container’s start shows its first output, the prompt nobody typed for', async () => {
  const r = await startRelays();
  const { container, attachment } = await h.containers().run(
    { image: 'busybox', cmd: ['sh', '-c', 'echo banner-before-any-input; exec sh'], tty: true, openStdin: true, env: ['PS1=prompt$ '] },
    { attach: true, consoleSize: { rows: 24, cols: 80 } },
  );
  await r.adopt(container.id, 'learner', attachment!);
  const v = watchTerminal(redis, prefix, container.id);
  await eventually(() => v.bytes().toString().includes('prompt$ '));
  expect(v.bytes().toString()).toMatch(/^banner-before-any-input\r\n/);
  await new TerminalInputWriter(redis, prefix).input(container.id, Buffer.from('exit 2\n'));
  expect(await v.exit).toBe(2);
  await v.stop();
});

it('a run job hands its container’s terminal to the relays before the start: the learner sees the first prompt', async () => {
  const r = await startRelays();
  const result = await handleRun(
    { sessionId: 'learner', runId: 'run-terminal', image: 'busybox', cmd: ['sh'], env: ['PS1=first-prompt$ '], tty: true, rows: 24, cols: 80, removeOnExit: false },
    {
      // The run handler uses the engine's containers only (no builder).
      engine: h.engine as Engine,
      events: { emit: () => undefined },
      signal: new AbortController().signal,
      log: pino({ level: 'silent' }),
      terminal: (id, session, attachment) => r.adopt(id, session, attachment),
    },
  );
  const v = watchTerminal(redis, prefix, result.id);
  await eventually(() => v.bytes().toString().includes('first-prompt$ '));
  expect(await redis.hget(terminalKeys.meta(prefix, result.id), 'session')).toBe('learner');
  await new TerminalInputWriter(redis, prefix).input(result.id, Buffer.from('exit 9\n'));
  expect(await v.exit).toBe(9);
  await v.stop();
});

it('a relay nobody watches stops after its idle time; asking again relays on, after the same offsets', async () => {
  const r = await startRelays({ idleMs: 1500 });
  const id = await waitingContainer('while read line; do echo "got $line"; done');
  await r.open(id, 'learner');
  const relay = (await r.relay(id))!;
  const writer = new TerminalInputWriter(redis, prefix);
  const v = watchTerminal(redis, prefix, id);
  await eventually(() => relay.state.viewers === 1);
  await writer.input(id, Buffer.from('go\none\n'));
  await eventually(() => v.bytes().toString() === 'got one\n');
  await v.stop();
  expect(await relay.ended).toEqual({ reason: 'idle' });
  expect(await redis.hget(terminalKeys.meta(prefix, id), 'state')).toBe('idle');
  expect(await redis.hgetall(terminalKeys.relays(prefix, HOST))).toEqual({});
  expect((await h.containers().inspect(id)).status).toBe('running');

  expect(await r.open(id, 'learner')).toEqual({ ok: true, containerId: id });
  const again = watchTerminal(redis, prefix, id, { after: v.offset() });
  await eventually(async () => (await r.relay(id))?.state.viewers === 1);
  await writer.input(id, Buffer.from('two\n'));
  await eventually(() => again.bytes().toString() === 'got two\n');
  expect(again.from()).toBe(v.offset());
  await again.stop();
});

it('input the container does not read is bounded in the worker (the rest dropped, as a terminal drops it); acks still get through', async () => {
  const r = await startRelays();
  const id = await waitingContainer('sleep 600');
  await r.open(id, 'learner');
  const relay = (await r.relay(id))!;
  const writer = new TerminalInputWriter(redis, prefix);
  await writer.input(id, Buffer.from('go\n'));
  const paste = Buffer.alloc(64 * 1024, 'x');
  for (let i = 0; i < 64; i++) await writer.input(id, paste); // 4 MiB nobody reads
  await eventually(() => relay.state.droppedInputBytes > 0);
  await new Promise((res) => setTimeout(res, 300));
  expect(relay.state.pendingInputBytes).toBeLessThanOrEqual(256 * 1024);
  expect(relay.state.droppedInputBytes).toBeGreaterThan(3 * 1024 * 1024);
  // The stream behind the input is still read: a viewer's ack arrives.
  await writer.ack(id, 'late-viewer', 0);
  await eventually(() => relay.state.viewers === 1);
});
