// The worker host's direct terminal endpoint on real parts (real sandboxes, the tests' Redis, a
// socket.io client as the browser's): typing reaches the shell and its echo comes back with no
// gateway on the way, each byte once, in order, also kept in the output stream for reloads; a
// viewer coming back after offset N gets exactly the rest; a slow direct viewer holds the
// container back. Learners are hostile: a forged token, an expired one, one for another host,
// another origin or another session's container, one replayed for another container, a
// malformed and an oversized message are each refused, next to a control that works.
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { pino } from 'pino';
import { io, type Socket } from 'socket.io-client';
import { afterAll, afterEach, beforeAll, beforeEach, expect, it } from 'vitest';
import { oneFrameParser } from '../../../protocol/socket/one-frame-parser.js';
import type { TerminalAttachReply, TerminalErrorFrame, TerminalExitFrame, TerminalOutputFrame } from '../../../protocol/socket/terminal.js';
import { readTerminalOutput } from '../../../queue-client/terminal-streams.js';
import { signTerminalToken, terminalEndpointOf, type TerminalClaims } from '../../../queue-client/terminal-token.js';
import { createHarness, eventually, type Harness } from '../containers/test-support/harness.js';
import { removeKeysUnder, testClient, testPrefix, testRedisUrl } from '../queue/test-support/redis.js';
import { TerminalEndpoint } from './endpoint.js';
import { TerminalRelays } from './relays.js';

const HOST = 'terminal-endpoint-test';
const ORIGIN = 'http://play.example:3000';
let h: Harness;
let redis: Redis;
let prefix: string;
let relays: TerminalRelays;
let endpoint: TerminalEndpoint;
let key: Buffer;
const sockets: Socket[] = [];

beforeAll(async () => {
  h = await createHarness('terminal-endpoint');
  redis = testClient();
});
beforeEach(async () => {
  prefix = testPrefix('terminal-endpoint');
  relays = await TerminalRelays.start({ engine: h.engine, redisUrl: testRedisUrl(), prefix, hostId: HOST, log: pino({ level: 'silent' }), limits: { highBytes: 64 * 1024, lowBytes: 16 * 1024 } });
  endpoint = await TerminalEndpoint.start({ relays, redisUrl: testRedisUrl(), prefix, hostId: HOST, port: 0, host: '127.0.0.1', log: pino({ level: 'silent' }) });
  key = (await terminalEndpointOf(redis, prefix, HOST))!.key;
});
afterEach(async () => {
  for (const s of sockets.splice(0)) s.close();
  await endpoint.close();
  // Closed: gateways no longer hand out this host's direct way.
  expect(await terminalEndpointOf(redis, prefix, HOST)).toBeNull();
  await relays.close();
  await h.clean();
  await removeKeysUnder(redis, prefix);
});
afterAll(async () => {
  await h?.close();
  await redis?.quit();
});

const session = () => `s${randomBytes(6).toString('hex')}`;

/** A shell of `sessionId`'s, relayed on this host (as the gateway's request has it relayed). */
async function shell(sessionId: string, cmd = ['sh']): Promise<string> {
  const { container } = await h.containers({ session: sessionId }).run({ image: 'busybox', cmd, tty: true, openStdin: true, env: ['PS1=$ '] });
  expect(await relays.open(container.id, sessionId)).toEqual({ ok: true, containerId: container.id });
  return container.id;
}

function token(claims: Partial<TerminalClaims> & { s: string; c: string }, signWith = key): string {
  return signTerminalToken(signWith, { h: HOST, o: ORIGIN, e: Date.now() + 30_000, ...claims });
}

interface Direct {
  socket: Socket;
  text(): string;
  offset(): number;
  errors: TerminalErrorFrame[];
  exit: Promise<TerminalExitFrame>;
  /** Resolves at the next output frame. */
  nextFrame(): Promise<void>;
  attach(containerId: string, after?: number): Promise<TerminalAttachReply>;
  type(attachmentId: string, text: string | Buffer): void;
}

/** A browser's direct socket; resolves once connected, rejects with the handshake's refusal. */
async function direct(auth: unknown, options: { origin?: string; renderDelayMs?: number; defaultParser?: boolean } = {}): Promise<Direct> {
  const socket = io(`http://127.0.0.1:${endpoint.port}`, {
    transports: ['websocket'],
    reconnection: false,
    forceNew: true,
    auth: auth as Record<string, unknown>,
    extraHeaders: { origin: options.origin ?? ORIGIN },
    // The page's parser (one-frame-parser.ts); `defaultParser`: socket.io's own, for a control.
    ...(options.defaultParser ? {} : { parser: oneFrameParser }),
  });
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
    const ack = () => socket.emit('terminal:ack', { attachmentId: f.attachmentId, offset: f.offset });
    if (options.renderDelayMs) setTimeout(ack, options.renderDelayMs);
    else ack();
  });
  socket.on('terminal:error', (f: TerminalErrorFrame) => errors.push(f));
  const exit = new Promise<TerminalExitFrame>((resolve) => socket.on('terminal:exit', resolve));
  return {
    socket,
    text: () => Buffer.concat(chunks).toString(),
    offset: () => offset,
    errors,
    exit,
    nextFrame: () => new Promise<void>((resolve) => waiters.push(resolve)),
    attach: (containerId, after) => socket.timeout(15_000).emitWithAck('terminal:attach', { containerId, ...(after === undefined ? {} : { after }) }),
    type: (attachmentId, text) => socket.emit('terminal:input', { attachmentId, data: Buffer.from(text) }),
  };
}

const refusedKey = (err: unknown) => (err as { data?: { key?: string } }).data?.key;

it('a direct viewer types into its shell and reads the echo; the output is also the stream’s; coming back after offset N gets the rest; the exit is told', async () => {
  const a = session();
  const id = await shell(a);
  const first = await direct({ token: token({ s: a, c: id }) });
  const reply = await first.attach(id);
  expect(reply).toMatchObject({ ok: true, containerId: id, from: 0 });
  if (!reply.ok) return;
  first.type(reply.attachmentId, 'echo pid=$$. $((6*7))\n');
  await eventually(() => first.text().includes('42\r\n'));
  const pid = /pid=(\d+)\./.exec(first.text().split('\n').slice(1).join('\n'))?.[1];
  expect(pid).toBeTruthy();
  // The stream is still the record: a reload through the gateway reads the same bytes.
  await eventually(async () => {
    const read = await readTerminalOutput(redis, prefix, id, undefined, { count: 1000 });
    return Buffer.concat(read.records.flatMap((r) => (r.kind === 'data' ? [r.data] : []))).toString() === first.text();
  });

  const seen = first.offset();
  first.socket.disconnect();
  await eventually(async () => (await relays.relay(id))?.state.viewers === 0);
  const again = await direct({ token: token({ s: a, c: id }) });
  const resumed = await again.attach(id, seen);
  expect(resumed).toMatchObject({ ok: true, from: seen });
  const fresh = await direct({ token: token({ s: a, c: id }) });
  const repainted = await fresh.attach(id);
  expect(repainted).toMatchObject({ ok: true, from: 0 });
  if (!resumed.ok || !repainted.ok) return;
  await eventually(() => fresh.text() === first.text());
  again.type(resumed.attachmentId, 'echo again=$$.\n');
  await eventually(() => fresh.text().includes(`again=${pid}.`) && again.text().includes(`again=${pid}.`));
  // Only what came after its offset, once.
  expect(again.text()).not.toContain('42');
  expect(fresh.text().split('pid=').length).toBe(3);
  again.type(resumed.attachmentId, 'exit 4\n');
  expect((await again.exit).exitCode).toBe(4);
  expect((await fresh.exit).exitCode).toBe(4);
});

it('a slow direct viewer holds the container back and still gets every byte once', async () => {
  const a = session();
  const id = await shell(a, ['sh', '-c', 'read go; seq 1 200000; exit 0']);
  const slow = await direct({ token: token({ s: a, c: id }) }, { renderDelayMs: 250 });
  const reply = await slow.attach(id);
  if (!reply.ok) throw new Error('attach failed');
  const relay = (await relays.relay(id))!;
  slow.type(reply.attachmentId, 'go\n');
  await slow.exit;
  // Held back: the relay stopped reading while this viewer was more than 64 KiB behind.
  expect(relay.state.pauses).toBeGreaterThan(0);
  let expected = 'go\r\n';
  for (let i = 1; i <= 200000; i++) expected += `${i}\r\n`;
  expect(slow.text()).toBe(expected);
}, 60_000);

it('keystroke to echo, direct: figures', async () => {
  const a = session();
  const id = await shell(a);
  const s = await direct({ token: token({ s: a, c: id }) });
  const reply = await s.attach(id);
  if (!reply.ok) throw new Error('attach failed');
  s.type(reply.attachmentId, 'stty raw -echo; cat\n');
  await new Promise((r) => setTimeout(r, 300));
  const times: number[] = [];
  for (let i = 0; i < 200; i++) {
    const echoed = s.nextFrame();
    const t0 = performance.now();
    s.type(reply.attachmentId, 'k');
    await echoed;
    times.push(performance.now() - t0);
    await new Promise((r) => setTimeout(r, 5));
  }
  times.sort((x, y) => x - y);
  const p50 = times[Math.floor(times.length * 0.5)]!;
  const p99 = times[Math.floor(times.length * 0.99)]!;
  process.stdout.write(`terminal keystroke→echo, direct endpoint (node socket.io client): p50 ${p50.toFixed(2)} ms, p99 ${p99.toFixed(2)} ms\n`);
  expect(p50).toBeLessThan(50);
});

it('refuses a forged, expired, other-host or other-origin token at the handshake; the valid one connects', async () => {
  const a = session();
  const id = await shell(a);
  const claims = { s: a, c: id };
  const attempts: [string, unknown, string?][] = [
    ['forged (another key)', { token: token(claims, randomBytes(32)) }],
    ['tampered (claims changed, signature kept)', { token: `${Buffer.from(JSON.stringify({ ...claims, h: HOST, o: ORIGIN, e: Date.now() + 9e9 })).toString('base64url')}.${token(claims).split('.')[1]}` }],
    ['expired', { token: token({ ...claims, e: Date.now() - 1 }) }],
    ['for another host', { token: token({ ...claims, h: 'another-host' }) }],
    ['from another origin', { token: token(claims) }, 'http://evil.example'],
    ['no token', {}],
    ['not a string', { token: { s: a } }],
    ['too long', { token: 'x'.repeat(5000) }],
  ];
  for (const [what, auth, origin] of attempts) {
    const err = await direct(auth, origin ? { origin } : {}).then(() => null, (e: unknown) => e);
    expect(refusedKey(err), what).toBe('terminal.tokenRefused');
  }
  // Control: the same claims, signed with the host's key, from the page's origin.
  const ok = await direct({ token: token(claims) });
  expect(await ok.attach(id)).toMatchObject({ ok: true, containerId: id });
});

it('a token for another session’s container, or one replayed for another container, reaches nothing', async () => {
  const a = session();
  const b = session();
  const victim = await shell(a);
  const own = await shell(b);
  // A valid signature (the gateway's) but for B's session on A's container: the relay is A's.
  const crossed = await direct({ token: token({ s: b, c: victim }) });
  expect(await crossed.attach(victim)).toMatchObject({ ok: false, error: { kind: 'learner', key: 'container.notFound' } });
  // B's own token, replayed to attach to A's container.
  const replayed = await direct({ token: token({ s: b, c: own }) });
  expect(await replayed.attach(victim)).toMatchObject({ ok: false, error: { kind: 'learner', key: 'container.notFound' } });
  // Nothing was attached, so input names no attachment.
  replayed.type('AAAAAAAAAAAA', 'echo intruder-was-here\n');
  await eventually(() => replayed.errors.length === 1);
  expect(replayed.errors[0]!.error).toMatchObject({ key: 'terminal.notAttached' });
  // Control: each token works for what it names; A's shell never saw the intruder.
  const mine = await direct({ token: token({ s: a, c: victim }) });
  const reply = await mine.attach(victim);
  expect(reply).toMatchObject({ ok: true });
  expect(await replayed.attach(own)).toMatchObject({ ok: true, containerId: own });
  if (!reply.ok) return;
  mine.type(reply.attachmentId, 'echo owner-$((1+1))\n');
  await eventually(() => mine.text().includes('owner-2\r\n'));
  expect(mine.text()).not.toContain('intruder');
  // One attachment per socket.
  expect(await mine.attach(victim)).toMatchObject({ ok: false, error: { key: 'terminal.tooMany' } });
});

it('malformed messages are refused with a clear error and the socket stays; an oversized one ends only that socket', async () => {
  const a = session();
  const id = await shell(a);
  const s = await direct({ token: token({ s: a, c: id }) });
  const reply = await s.attach(id);
  if (!reply.ok) throw new Error('attach failed');
  s.type(reply.attachmentId, 'x'.repeat(64 * 1024 + 1));
  s.socket.emit('terminal:resize', { attachmentId: reply.attachmentId, rows: 0, cols: 80 });
  s.socket.emit('terminal:input', { attachmentId: reply.attachmentId, data: 'not bytes' });
  s.socket.emit('terminal:ack', 'garbage');
  s.socket.emit('terminal:input', { attachmentId: reply.attachmentId, data: Buffer.from('x'), containerId: 'other' });
  expect(await s.socket.timeout(5000).emitWithAck('terminal:attach', { containerId: '../../etc' })).toMatchObject({ ok: false, error: { key: 'socket.badMessage' } });
  await eventually(() => s.errors.length === 5);
  for (const e of s.errors) expect(e.error).toMatchObject({ kind: 'learner', key: 'socket.badMessage' });
  expect(JSON.stringify(s.errors)).not.toMatch(/at \w+ \(|\.ts:\d+/);
  // Control: the same socket's well-formed messages reach the shell.
  s.socket.emit('terminal:resize', { attachmentId: reply.attachmentId, rows: 31, cols: 97 });
  s.type(reply.attachmentId, 'stty size; echo still-$((2+3))\n');
  await eventually(() => s.text().includes('\r\nstill-5\r\n'));
  expect(s.text()).toContain('31 97');
  expect(s.socket.connected).toBe(true);

  // Larger than any message of a terminal: the connection goes, the endpoint and others stay.
  const other = await direct({ token: token({ s: a, c: id }) });
  const otherReply = await other.attach(id);
  const closed = new Promise((resolve) => s.socket.once('disconnect', resolve));
  s.socket.emit('terminal:input', { attachmentId: reply.attachmentId, data: Buffer.alloc(512 * 1024, 0x61) });
  await closed;
  if (!otherReply.ok) throw new Error('attach failed');
  other.type(otherReply.attachmentId, 'echo other-$((3+4))\n');
  await eventually(() => other.text().includes('\r\nother-7\r\n'));
  expect(other.text()).not.toContain('aaaaaaaa');
});

it('a keystroke and its echo are one WebSocket message each; a message that does not parse, or socket.io’s two-part form, ends only that socket', async () => {
  const a = session();
  const id = await shell(a);
  const s = await direct({ token: token({ s: a, c: id }) });
  const reply = await s.attach(id);
  if (!reply.ok) throw new Error('attach failed');
  // The socket's WebSocket (engine.io's transport), counted as the page would see its frames.
  const ws = (s.socket.io.engine.transport as unknown as { ws: { send(d: unknown, ...r: unknown[]): void; on(e: string, f: (d: unknown) => void): void } }).ws;
  const sent: unknown[] = [];
  const received: unknown[] = [];
  const send = ws.send.bind(ws);
  ws.send = (d, ...r) => (sent.push(d), send(d, ...r));
  ws.on('message', (d) => received.push(d));
  await new Promise((r) => setTimeout(r, 500));
  sent.length = received.length = 0;
  const frame = s.nextFrame();
  s.type(reply.attachmentId, 'q');
  await frame;
  // The keystroke (then the ack this client sends for its echo, text); the echo.
  expect(sent.filter((d) => typeof d !== 'string')).toHaveLength(1);
  expect(sent.filter((d) => typeof d === 'string').every((d) => (d as string).includes('terminal:ack'))).toBe(true);
  expect(received).toHaveLength(1);
  expect(received[0]).toBeInstanceOf(Buffer);

  // socket.io's own parser sends the same keystroke as a text header and then its bytes.
  const other = await direct({ token: token({ s: a, c: id }) });
  const otherReply = await other.attach(id);
  if (!otherReply.ok) throw new Error('attach failed');
  // (Not attached: the endpoint's output would be one message, which socket.io's parser refuses.)
  const plain = await direct({ token: token({ s: a, c: id }) }, { defaultParser: true });
  const plainClosed = new Promise((resolve) => plain.socket.once('disconnect', resolve));
  plain.type(otherReply.attachmentId, 'echo plain-$((1+1))\n');
  await plainClosed;
  // A binary message whose lengths do not add up.
  const bad = await direct({ token: token({ s: a, c: id }) });
  const badClosed = new Promise((resolve) => bad.socket.once('disconnect', resolve));
  (bad.socket.io.engine as unknown as { write(d: unknown): void }).write(Buffer.from([0, 0, 0, 9, 0x35]));
  await badClosed;
  // (A newline first: the line still holds the 'q' typed above.)
  other.type(otherReply.attachmentId, '\necho other-$((3+4))\n');
  await eventually(() => other.text().includes('\r\nother-7\r\n'));
  expect(other.text()).not.toContain('plain-2');
});
