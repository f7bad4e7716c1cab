// Terminals over socket.io, end to end on real parts: the gateway (with only this feature), a
// worker host's relays, real sandboxes and the tests' Redis. A learner types into their shell
// and sees it answer; a reload gets the scrollback once and the same shell; another session
// cannot attach to, type into, resize or ack the learner's terminal, by id, short id, name or
// attachment id; bad messages are refused and the connection stays up.
import type { Redis } from 'ioredis';
import { pino } from 'pino';
import { io as connect, type Socket } from 'socket.io-client';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { SESSION_COOKIE, SOCKET_PATH } from '../../../protocol/socket/common.js';
import type { TerminalAttachReply, TerminalErrorFrame, TerminalExitFrame, TerminalOutputFrame } from '../../../protocol/socket/terminal.js';
import { sessionPinKey } from '../../../queue-client/index.js';
import { createHarness, eventually, type Harness } from '../../../worker/src/containers/test-support/harness.js';
import { removeKeysUnder, testClient, testPrefix, testRedisUrl } from '../../../worker/src/queue/test-support/redis.js';
import { TerminalRelays } from '../../../worker/src/terminals/relays.js';
import { TerminalConnection, type TerminalStatus } from '../../src/components/terminal/terminal-connection.js';
import { startGateway, type Gateway } from '../gateway.js';
import { newSessionId, Sessions } from '../session.js';
import * as terminal from './terminal.js';

const HOST = 'gw-terminal-test';
const secret = Buffer.from('terminal-test-secret-terminal-test-secret');
let h: Harness;
let redis: Redis;
let prefix: string;
let relays: TerminalRelays;
let gateway: Gateway;
const sockets: Socket[] = [];

beforeAll(async () => {
  h = await createHarness('gw-terminal');
  redis = testClient();
  prefix = testPrefix('gw-terminal');
  relays = await TerminalRelays.start({ engine: h.engine, redisUrl: testRedisUrl(), prefix, hostId: HOST, log: pino({ level: 'silent' }) });
  gateway = await startGateway({ redisUrl: testRedisUrl(), prefix, secret, log: pino({ level: 'silent' }), port: 0, host: '127.0.0.1', features: [terminal] });
});
afterAll(async () => {
  for (const s of sockets) s.close();
  await gateway?.close();
  await relays?.close();
  await h?.close();
  await removeKeysUnder(redis, prefix);
  await redis?.quit();
});

/** A learner's session: its cookie, pinned to the test host as the dispatcher would pin it. */
async function session(): Promise<{ id: string; cookie: string }> {
  const id = newSessionId();
  await redis.set(sessionPinKey(prefix, id), HOST);
  return { id, cookie: `${SESSION_COOKIE}=${new Sessions(secret).sign(id)}` };
}

interface Screen {
  socket: Socket;
  text(): string;
  offset(): number;
  errors: TerminalErrorFrame[];
  exit: Promise<TerminalExitFrame>;
  /** Resolves at the next output frame (no polling: the latency figure depends on it). */
  nextFrame(): Promise<void>;
}

/** A browser tab: connects with the cookie, collects output frames and acks them at once. */
async function tab(cookie: string): Promise<Screen> {
  const socket = connect(gateway.url, { path: SOCKET_PATH, transports: ['websocket'], extraHeaders: { cookie }, forceNew: true });
  sockets.push(socket);
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('connect_error', reject);
  });
  const chunks: Buffer[] = [];
  let offset = 0;
  const errors: TerminalErrorFrame[] = [];
  let waiters: (() => void)[] = [];
  socket.on('terminal:output', (f: TerminalOutputFrame) => {
    chunks.push(Buffer.from(f.data as Uint8Array));
    offset = f.offset;
    for (const w of waiters) w();
    waiters = [];
    socket.emit('terminal:ack', { attachmentId: f.attachmentId, offset: f.offset });
  });
  socket.on('terminal:error', (f: TerminalErrorFrame) => errors.push(f));
  const exit = new Promise<TerminalExitFrame>((resolve) => socket.on('terminal:exit', resolve));
  const nextFrame = () => new Promise<void>((resolve) => waiters.push(resolve));
  return { socket, text: () => Buffer.concat(chunks).toString(), offset: () => offset, errors, exit, nextFrame };
}

function attach(s: Screen, containerId: string, after?: number): Promise<TerminalAttachReply> {
  return s.socket.timeout(15_000).emitWithAck('terminal:attach', { containerId, ...(after === undefined ? {} : { after }) });
}

async function shell(sessionId: string, name?: string): Promise<string> {
  const { container } = await h
    .containers({ session: sessionId })
    .run({ image: 'busybox', cmd: ['sh'], tty: true, openStdin: true, env: ['PS1=$ '], ...(name ? { name } : {}) });
  return container.id;
}

const type = (s: Screen, attachmentId: string, text: string) => s.socket.emit('terminal:input', { attachmentId, data: Buffer.from(text) });

it('a learner types into their shell; a reload repaints the scrollback once, in the same shell; the exit is told', async () => {
  const a = await session();
  const id = await shell(a.id);
  const first = await tab(a.cookie);
  const reply = await attach(first, id.slice(0, 12));
  expect(reply).toMatchObject({ ok: true, containerId: id, from: 0 });
  if (!reply.ok) return;
  type(first, reply.attachmentId, 'echo pid=$$. $((6*7))\n');
  await eventually(() => first.text().includes('42'));
  const pid = /pid=(\d+)\./.exec(first.text().split('\n').slice(1).join('\n'))?.[1];
  expect(pid).toBeTruthy();

  // A dropped connection: the same tab comes back after the offset it rendered.
  const seen = first.text();
  const offset = first.offset();
  first.socket.disconnect();
  const again = await tab(a.cookie);
  const resumed = await attach(again, id, offset);
  expect(resumed).toMatchObject({ ok: true, from: offset });
  // A reload: a fresh screen from the start of the kept scrollback.
  const reload = await tab(a.cookie);
  const repainted = await attach(reload, id);
  expect(repainted).toMatchObject({ ok: true, from: 0 });
  if (!resumed.ok || !repainted.ok) return;
  await eventually(() => reload.text() === seen);
  type(reload, repainted.attachmentId, 'echo again=$$.\n');
  await eventually(() => /again=\d+\./.test(reload.text().split('\n').slice(-2).join('\n')));
  expect(/again=(\d+)\./.exec(reload.text().split('again=$$.')[1] ?? '')?.[1]).toBe(pid);
  await eventually(() => again.text().includes('again='));
  // The resumed tab got only what came after its offset: nothing it had, once each.
  expect(again.text()).not.toContain('42');
  expect(reload.text().split('pid=').length).toBe(3);

  type(again, resumed.attachmentId, 'exit 4\n');
  expect((await again.exit).exitCode).toBe(4);
  expect((await reload.exit).exitCode).toBe(4);
});

it('another session cannot attach to, type into, resize or ack a learner’s terminal; bad messages are refused and the connection stays', async () => {
  const a = await session();
  const b = await session();
  const id = await shell(a.id, 'secret-shell');
  const mine = await tab(a.cookie);
  const reply = await attach(mine, id);
  expect(reply.ok).toBe(true);
  if (!reply.ok) return;

  const intruder = await tab(b.cookie);
  for (const ref of [id, id.slice(0, 12), 'secret-shell']) {
    expect(await attach(intruder, ref)).toMatchObject({ ok: false, error: { kind: 'learner', key: 'container.notFound' } });
  }
  // The attachment id is the owner's socket's: on another socket it names nothing.
  type(intruder, reply.attachmentId, 'echo intruder-was-here\n');
  intruder.socket.emit('terminal:resize', { attachmentId: reply.attachmentId, rows: 5, cols: 5 });
  intruder.socket.emit('terminal:ack', { attachmentId: reply.attachmentId, offset: 1e9 });
  await eventually(() => intruder.errors.length === 3);
  expect(intruder.errors.map((e) => e.error)).toEqual(Array(3).fill({ kind: 'learner', key: 'terminal.notAttached', facts: {} }));
  // Nor a forged message with the session or container in it.
  intruder.socket.emit('terminal:input', { attachmentId: reply.attachmentId, sessionId: a.id, containerId: id, data: Buffer.from('x') });
  await eventually(() => intruder.errors.length === 4);
  expect(intruder.errors[3]!.error).toMatchObject({ key: 'socket.badMessage' });

  // Bad input from the owner: refused, named, and the terminal still works.
  type(mine, reply.attachmentId, 'x'.repeat(64 * 1024 + 1));
  mine.socket.emit('terminal:resize', { attachmentId: reply.attachmentId, rows: 0, cols: 80 });
  mine.socket.emit('terminal:input', { attachmentId: reply.attachmentId, data: 'not bytes' });
  mine.socket.emit('terminal:ack', 'garbage');
  await eventually(() => mine.errors.length === 4);
  for (const e of mine.errors) expect(e.error).toMatchObject({ kind: 'learner', key: 'socket.badMessage' });
  // The control: the owner's own messages reach the shell (and the intruder's never did).
  mine.socket.emit('terminal:resize', { attachmentId: reply.attachmentId, rows: 31, cols: 97 });
  type(mine, reply.attachmentId, 'stty size; echo owner-was-here\n');
  // The output line, not the echo of the typed command (which ends the same way).
  await eventually(() => mine.text().includes('\r\nowner-was-here\r\n'));
  expect(mine.text()).toContain('31 97');
  expect(mine.text()).not.toContain('intruder-was-here');
  expect(mine.text()).not.toContain('5 5');
  expect(intruder.socket.connected && mine.socket.connected).toBe(true);
});

it('keystroke to echo through gateway, Redis, relay and container: figures', async () => {
  const a = await session();
  const id = await shell(a.id);
  const s = await tab(a.cookie);
  const reply = await attach(s, id);
  if (!reply.ok) throw new Error('attach failed');
  // Raw mode: each key echoes on its own, as in an interactive program.
  type(s, reply.attachmentId, 'stty raw -echo; cat\n');
  await new Promise((r) => setTimeout(r, 300));
  const times: number[] = [];
  for (let i = 0; i < 200; i++) {
    const echoed = s.nextFrame();
    const t0 = performance.now();
    type(s, reply.attachmentId, 'k');
    await echoed;
    times.push(performance.now() - t0);
    await new Promise((r) => setTimeout(r, 5));
  }
  times.sort((x, y) => x - y);
  const p50 = times[Math.floor(times.length * 0.5)]!;
  const p99 = times[Math.floor(times.length * 0.99)]!;
  process.stdout.write(`terminal keystroke→echo (node socket.io client, no browser): p50 ${p50.toFixed(2)} ms, p99 ${p99.toFixed(2)} ms\n`);
  // A loose bound on a shared 2-core machine; the figure is what matters.
  expect(p50).toBeLessThan(50);
});

it('the widget’s connection, on a connection dropped twice mid-flood, shows every byte once and reports its states', async () => {
  const a = await session();
  const { container } = await h.containers({ session: a.id }).run({ image: 'busybox', cmd: ['sh', '-c', 'read go; seq 1 150000; read more; seq 150001 300000; exit 3'], openStdin: true });
  const socket = connect(gateway.url, { path: SOCKET_PATH, transports: ['websocket'], extraHeaders: { cookie: a.cookie }, forceNew: true, reconnectionDelay: 100 });
  sockets.push(socket);
  const chunks: Uint8Array[] = [];
  const states: string[] = [];
  let exited: (s: TerminalStatus) => void = () => undefined;
  const exit = new Promise<TerminalStatus>((resolve) => (exited = resolve));
  let received = 0;
  // A slow screen: each write is "rendered" a moment later, as xterm's write callback would be.
  const connection: TerminalConnection = new TerminalConnection(socket, container.id.slice(0, 12), {
    write(data, offset) {
      chunks.push(Uint8Array.from(data));
      received += data.byteLength;
      setTimeout(() => connection.rendered(offset), 2);
    },
    status(s) {
      states.push(s.state);
      if (s.state === 'exited' || s.state === 'failed') exited(s);
    },
  });
  await eventually(() => states.includes('connected'));
  connection.input(new TextEncoder().encode('go\n'));
  await eventually(() => received > 300_000);
  socket.io.engine.close();
  await eventually(() => states.filter((s) => s === 'connected').length === 2);
  connection.input(new TextEncoder().encode('more\n'));
  await eventually(() => received > 1_300_000);
  socket.io.engine.close();
  expect(await exit).toEqual({ state: 'exited', exitCode: 3 });
  connection.dispose();
  let expected = '';
  for (let i = 1; i <= 300000; i++) expected += `${i}\n`;
  expect(Buffer.concat(chunks).toString()).toBe(expected);
  expect(states.slice(0, 4)).toEqual(['connecting', 'connected', 'reconnecting', 'connected']);
  expect(states.filter((s) => s === 'reconnecting').length).toBe(2);
});

it('one page may hold 8 terminals: the 9th is refused with a clear message, and closing one makes room', async () => {
  const a = await session();
  const id = await shell(a.id);
  const s = await tab(a.cookie);
  const replies = [];
  for (let i = 0; i < terminal.MAX_ATTACHMENTS; i++) replies.push(await attach(s, id));
  expect(replies.every((r) => r.ok)).toBe(true);
  expect(await attach(s, id)).toMatchObject({ ok: false, error: { kind: 'learner', key: 'terminal.tooMany', facts: { limit: 8 } } });
  const first = replies[0]!;
  if (!first.ok) return;
  expect(await s.socket.emitWithAck('terminal:detach', { attachmentId: first.attachmentId })).toEqual({ ok: true });
  expect(await attach(s, id)).toMatchObject({ ok: true });
});

it('a terminal goes on through another app process: reconnecting there after the offset, typing there', async () => {
  const other = await startGateway({ redisUrl: testRedisUrl(), prefix, secret, log: pino({ level: 'silent' }), port: 0, host: '127.0.0.1', features: [terminal] });
  try {
    const a = await session();
    const id = await shell(a.id);
    const first = await tab(a.cookie);
    const reply = await attach(first, id);
    if (!reply.ok) throw new Error('attach failed');
    type(first, reply.attachmentId, 'echo one-$((1+1))\n');
    await eventually(() => first.text().includes('one-2\r\n'));
    const offset = first.offset();
    first.socket.disconnect();

    const socket = connect(other.url.replace('localhost', '127.0.0.1'), { path: SOCKET_PATH, transports: ['websocket'], extraHeaders: { cookie: a.cookie }, forceNew: true });
    sockets.push(socket);
    const chunks: Buffer[] = [];
    socket.on('terminal:output', (f: TerminalOutputFrame) => chunks.push(Buffer.from(f.data as Uint8Array)));
    const there = (await socket.timeout(15_000).emitWithAck('terminal:attach', { containerId: id, after: offset })) as TerminalAttachReply;
    expect(there).toMatchObject({ ok: true, from: offset });
    if (!there.ok) return;
    socket.emit('terminal:input', { attachmentId: there.attachmentId, data: Buffer.from('echo two-$((1+2))\n') });
    await eventually(() => Buffer.concat(chunks).toString().includes('two-3\r\n'));
    expect(Buffer.concat(chunks).toString()).not.toContain('one-2');
  } finally {
    await other.close();
  }
});

it('a hidden page stops being a viewer (it would hold the container back) and, shown again, goes on after what it has', async () => {
  const a = await session();
  const { container } = await h.containers({ session: a.id }).run({ image: 'busybox', cmd: ['sh', '-c', 'read go; seq 1 50000; read more; seq 50001 100000; exit 0'], openStdin: true });
  const socket = connect(gateway.url, { path: SOCKET_PATH, transports: ['websocket'], extraHeaders: { cookie: a.cookie }, forceNew: true });
  sockets.push(socket);
  const chunks: Uint8Array[] = [];
  let exited = false;
  const connection: TerminalConnection = new TerminalConnection(socket, container.id, {
    write(data, offset) {
      chunks.push(Uint8Array.from(data));
      connection.rendered(offset);
    },
    status: (s) => void (s.state === 'exited' && (exited = true)),
  });
  const relay = async () => (await relays.relay(container.id))!;
  await eventually(async () => (await relay())?.state.viewers === 1);
  connection.input(new TextEncoder().encode('go\n'));
  await eventually(() => Buffer.concat(chunks).toString().endsWith('50000\n'));
  connection.setVisible(false);
  await eventually(async () => (await relay()).state.viewers === 0);
  connection.input(new TextEncoder().encode('more\n')); // kept until shown again
  await new Promise((r) => setTimeout(r, 200));
  expect(Buffer.concat(chunks).toString().endsWith('50000\n')).toBe(true);
  connection.setVisible(true);
  await eventually(() => exited);
  connection.dispose();
  let expected = '';
  for (let i = 1; i <= 100000; i++) expected += `${i}\n`;
  expect(Buffer.concat(chunks).toString()).toBe(expected);
});

it('input faster than a terminal takes (past a 4 MiB burst, 1 MiB/s) is refused with a clear message', async () => {
  const a = await session();
  const { container } = await h.containers({ session: a.id }).run({ image: 'busybox', cmd: ['sleep', '600'], openStdin: true });
  const s = await tab(a.cookie);
  const reply = await attach(s, container.id);
  if (!reply.ok) throw new Error('attach failed');
  const paste = Buffer.alloc(64 * 1024, 'x');
  for (let i = 0; i < 80; i++) s.socket.emit('terminal:input', { attachmentId: reply.attachmentId, data: paste });
  await eventually(() => s.errors.length > 0);
  expect(s.errors[0]).toMatchObject({ attachmentId: reply.attachmentId, error: { kind: 'learner', key: 'terminal.inputTooFast' } });
  // Under 5 MiB sent in well under a second: at most ~16 of the 80 pieces are refused.
  await new Promise((r) => setTimeout(r, 300));
  expect(s.errors.length).toBeLessThan(20);
});
