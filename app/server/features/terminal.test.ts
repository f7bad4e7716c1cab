// Terminals over socket.io, end to end on real parts: the gateway (with only this feature), a
// worker host's relays, real sandboxes and the tests' Redis. A learner types into their shell
// and sees it answer; a reload gets the scrollback once and the same shell; another session
// cannot attach to, type into, resize or ack the learner's terminal, by id, short id, name or
// attachment id; bad messages are refused and the connection stays up. The short way: the
// gateway hands out the worker host's endpoint and a token, the widget's connection types and
// reads there, comes back there after a drop, and falls back to the gateway by itself when the
// endpoint cannot be reached.
import type { Redis } from 'ioredis';
import { pino } from 'pino';
import { io as connect, type Socket } from 'socket.io-client';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { SESSION_COOKIE, SOCKET_PATH } from '../../../protocol/socket/common.js';
import type { TerminalAttachReply, TerminalErrorFrame, TerminalExitFrame, TerminalOutputFrame } from '../../../protocol/socket/terminal.js';
import { sessionPinKey } from '../../../queue-client/index.js';
import { terminalEndpointKey, verifyTerminalToken } from '../../../queue-client/terminal-token.js';
import { createHarness, eventually, type Harness } from '../../../worker/src/containers/test-support/harness.js';
import { removeKeysUnder, testClient, testPrefix, testRedisUrl } from '../../../worker/src/queue/test-support/redis.js';
import { TerminalEndpoint } from '../../../worker/src/terminals/endpoint.js';
import { TerminalRelays } from '../../../worker/src/terminals/relays.js';
import { directSocketOpener, TerminalConnection, type DirectSocket, type TerminalStatus } from '../../src/components/terminal/terminal-connection.js';
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
let endpoint: TerminalEndpoint;
const sockets: Socket[] = [];

beforeAll(async () => {
  h = await createHarness('gw-terminal');
  redis = testClient();
  prefix = testPrefix('gw-terminal');
  relays = await TerminalRelays.start({ engine: h.engine, redisUrl: testRedisUrl(), prefix, hostId: HOST, log: pino({ level: 'silent' }) });
  endpoint = await TerminalEndpoint.start({ relays, redisUrl: testRedisUrl(), prefix, hostId: HOST, port: 0, host: '127.0.0.1', log: pino({ level: 'silent' }) });
  gateway = await startGateway({ redisUrl: testRedisUrl(), prefix, secret, log: pino({ level: 'silent' }), port: 0, host: '127.0.0.1', features: [terminal] });
});
afterAll(async () => {
  for (const s of sockets) s.close();
  await gateway?.close();
  await endpoint?.close();
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

it.each(['the gateway', 'the worker host directly'])('the widget’s connection through %s, on a connection dropped twice mid-flood, shows every byte once and reports its states', async (way) => {
  const a = await session();
  const direct = way === 'the gateway' ? null : recordingOpener();
  // The connection that drops: the page socket, or the direct one in use.
  const drop = () => (direct ? direct.opened.at(-1)! : socket).io.engine.close();
  const { container } = await h.containers({ session: a.id }).run({ image: 'busybox', cmd: ['sh', '-c', 'read go; seq 1 150000; read more; seq 150001 300000; exit 3'], openStdin: true });
  const socket = connect(gateway.url, { path: SOCKET_PATH, transports: ['websocket'], extraHeaders: { cookie: a.cookie }, forceNew: true, reconnectionDelay: 100 });
  sockets.push(socket);
  const chunks: Uint8Array[] = [];
  const states: string[] = [];
  let exited: (s: TerminalStatus) => void = () => undefined;
  const exit = new Promise<TerminalStatus>((resolve) => (exited = resolve));
  let received = 0;
  // Each drop must come mid-flood: past `holdAt` bytes the screen stops rendering, so the relay
  // holds the container back until the drop is done (on a fast machine the whole flood and the
  // exit once arrived before the second drop, which then dropped an ended terminal).
  let holdAt = 300_000;
  let held: number | null = null;
  const release = () => {
    const offset = held;
    held = null;
    if (offset !== null) connection.rendered(offset);
  };
  // A slow screen: each write is "rendered" a moment later, as xterm's write callback would be.
  const connection: TerminalConnection = new TerminalConnection(socket, container.id.slice(0, 12), {
    write(data, offset) {
      chunks.push(Uint8Array.from(data));
      received += data.byteLength;
      if (held === null && received > holdAt) holdAt = Infinity; // once per drop
      else if (held === null) return void setTimeout(() => connection.rendered(offset), 2);
      held = offset;
    },
    status(s) {
      states.push(s.state);
      if (s.state === 'exited' || s.state === 'failed') exited(s);
    },
  }, direct ? { openDirect: direct.open } : {});
  await eventually(() => states.includes('connected'));
  connection.input(new TextEncoder().encode('go\n'));
  let expected = '';
  for (let i = 1; i <= 150000; i++) expected += `${i}\n`;
  const firstFlood = expected.length;
  for (let i = 150001; i <= 300000; i++) expected += `${i}\n`;
  await eventually(() => held !== null);
  expect(received).toBeLessThan(firstFlood); // mid-flood
  drop();
  await eventually(() => states.filter((s) => s === 'connected').length === 2);
  release();
  connection.input(new TextEncoder().encode('more\n'));
  holdAt = 1_300_000;
  await eventually(() => held !== null);
  expect(received).toBeLessThan(expected.length);
  drop();
  await eventually(() => states.filter((s) => s === 'reconnecting').length === 2);
  release();
  expect(await exit).toEqual({ state: 'exited', exitCode: 3 });
  connection.dispose();
  expect(Buffer.concat(chunks).toString()).toBe(expected);
  expect(states.slice(0, 4)).toEqual(['connecting', 'connected', 'reconnecting', 'connected']);
  expect(states.filter((s) => s === 'reconnecting').length).toBe(2);
  // Direct, and direct again after the first drop (after the second, the container may have
  // finished while nobody watched: an ended terminal is read through the gateway).
  if (direct) expect(direct.opened.length).toBeGreaterThanOrEqual(2);
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

/** Opens direct sockets as the page does (to the page's host name at the endpoint's port), and keeps them. */
function recordingOpener(): { open: (e: Parameters<ReturnType<typeof directSocketOpener>>[0]) => DirectSocket; opened: Socket[] } {
  const opened: Socket[] = [];
  const opener = directSocketOpener('http://127.0.0.1/play');
  return {
    opened,
    open: (e) => {
      const socket = opener(e) as unknown as Socket;
      opened.push(socket);
      sockets.push(socket);
      return socket as unknown as DirectSocket;
    },
  };
}

it('terminal:direct hands out this host’s endpoint and a token for this session, container, host and page origin; never for another session', async () => {
  const a = await session();
  const b = await session();
  const id = await shell(a.id, 'direct-shell');
  const s = await tab(a.cookie);
  const reply = (await s.socket.timeout(15_000).emitWithAck('terminal:direct', { containerId: 'direct-shell' })) as {
    ok: boolean;
    containerId: string;
    direct: { url: string | null; port: number; token: string };
  };
  expect(reply).toMatchObject({ ok: true, containerId: id, direct: { url: null, port: endpoint.port } });
  const key = Buffer.from((await redis.hget(terminalEndpointKey(prefix, HOST), 'key'))!, 'base64');
  const check = verifyTerminalToken(key, reply.direct.token);
  // No Origin header from this client: the token is good only for a handshake without one.
  expect(check).toMatchObject({ ok: true, claims: { s: a.id, c: id, h: HOST, o: '' } });
  if (check.ok) expect(check.claims.e - Date.now()).toBeLessThanOrEqual(30_000);
  const intruder = await tab(b.cookie);
  for (const ref of [id, id.slice(0, 12), 'direct-shell']) {
    expect(await intruder.socket.timeout(15_000).emitWithAck('terminal:direct', { containerId: ref })).toMatchObject({ ok: false, error: { kind: 'learner', key: 'container.notFound' } });
  }
  expect(await s.socket.timeout(15_000).emitWithAck('terminal:direct', { containerId: id, token: 'x' })).toMatchObject({ ok: false, error: { key: 'socket.badMessage' } });
});

/**
 * The page's terminal widget without a screen, as the browser runs it: a page socket with the
 * learner's cookie, direct sockets recorded, what it renders and each status it reports.
 */
function widget(cookie: string, id: string) {
  const page = connect(gateway.url, { path: SOCKET_PATH, transports: ['websocket'], extraHeaders: { cookie }, forceNew: true });
  sockets.push(page);
  const onPage: string[] = [];
  page.on('terminal:output', () => onPage.push('frame'));
  const direct = recordingOpener();
  const chunks: Uint8Array[] = [];
  const states: string[] = [];
  const connection: TerminalConnection = new TerminalConnection(page, id, {
    write(data, offset) {
      chunks.push(Uint8Array.from(data));
      connection.rendered(offset);
    },
    status: (st) => states.push(st.state),
  }, { openDirect: direct.open });
  return { connection, direct, states, onPage, text: () => Buffer.concat(chunks).toString() };
}

it('the widget’s connection types and reads on the worker host directly, and after that socket drops goes on there in the same shell, nothing twice', async () => {
  const a = await session();
  const id = await shell(a.id);
  const { connection, direct, states, text, onPage } = widget(a.cookie, id);
  await eventually(() => states.includes('connected'));
  connection.input(new TextEncoder().encode('echo pid=$$. $((6*7))\n'));
  await eventually(() => text().includes('42\r\n'));
  const pid = /pid=(\d+)\./.exec(text().split('\n').slice(1).join('\n'))?.[1];
  expect(direct.opened).toHaveLength(1);
  expect(onPage).toHaveLength(0);
  // The worker host counts it as a viewer (flow control) like any other.
  expect((await relays.relay(id))!.state.viewers).toBe(1);

  direct.opened[0]!.io.engine.close();
  await eventually(() => states.filter((st) => st === 'connected').length === 2);
  expect(states).toEqual(['connecting', 'connected', 'reconnecting', 'connected']);
  expect(direct.opened).toHaveLength(2);
  connection.input(new TextEncoder().encode('echo again=$$.\n'));
  await eventually(() => text().includes(`again=${pid}.\r\n`));
  expect(text().split('pid=').length).toBe(3);
  expect(onPage).toHaveLength(0);
  connection.input(new TextEncoder().encode('exit 6\n'));
  await eventually(() => states.at(-1) === 'exited');
  connection.dispose();
  // Its direct socket went with the exit; the relay counts nobody.
  await eventually(() => direct.opened.every((s) => !s.connected));
});

it('keys typed when the direct socket’s ping has expired (a laptop waking up) reach the shell once, after it attaches anew', async () => {
  const a = await session();
  const id = await shell(a.id);
  const { connection, direct, states, text } = widget(a.cookie, id);
  await eventually(() => states.includes('connected'));
  // As after a sleep: the last ping is long past, so socket.io buffers the next packet and
  // closes the socket ("ping timeout") instead of sending it.
  (direct.opened[0]!.io.engine as unknown as { _pingTimeoutTime: number })._pingTimeoutTime = 1;
  connection.input(new TextEncoder().encode('echo woke-$((3+4))\n'));
  await eventually(() => text().includes('woke-7\r\n'));
  expect(states).toEqual(['connecting', 'connected', 'reconnecting', 'connected']);
  expect(direct.opened).toHaveLength(2);
  // Control: the first socket never sent it (it is still in its buffer), so only the resend
  // after attaching again put it through; and it went through once.
  expect(direct.opened[0]!.sendBuffer.map((p) => (p.data as unknown[])[0])).toContain('terminal:input');
  expect(text().split('woke-7').length).toBe(2);
  connection.dispose();
});

it('when the worker host cannot be reached directly, the widget’s connection falls back to the gateway by itself', async () => {
  const a = await session();
  const id = await shell(a.id);
  const key = terminalEndpointKey(prefix, HOST);
  // Where nothing listens (a host behind a firewall, a worker restarting); restored after.
  await redis.hset(key, 'port', '1');
  try {
    const { connection, direct, states, text, onPage } = widget(a.cookie, id);
    await eventually(() => states.includes('connected'));
    connection.input(new TextEncoder().encode('echo fell-back-$((2*3))\n'));
    await eventually(() => text().includes('fell-back-6\r\n'));
    // It tried the direct way once, then went through the page socket.
    expect(direct.opened).toHaveLength(1);
    expect(direct.opened[0]!.connected).toBe(false);
    expect(onPage.length).toBeGreaterThan(0);
    expect(states).toEqual(['connecting', 'connected']);
    connection.dispose();
  } finally {
    await redis.hset(key, 'port', String(endpoint.port));
  }
  // Control: with the endpoint reachable, the same page goes direct.
  const page = connect(gateway.url, { path: SOCKET_PATH, transports: ['websocket'], extraHeaders: { cookie: a.cookie }, forceNew: true });
  sockets.push(page);
  const direct = recordingOpener();
  let connected = false;
  const connection = new TerminalConnection(page, id, { write: () => undefined, status: (st) => void (st.state === 'connected' && (connected = true)) }, { openDirect: direct.open });
  await eventually(() => connected);
  expect(direct.opened[0]!.connected).toBe(true);
  connection.dispose();
});
