// The learner's files through the gateway, on the tests' real Redis: saved per session, kept
// across a restart of the gateway process, in step across tabs and app processes, inside their
// limits, and bad input (huge files, huge uploads, too many files, malformed or oversized
// messages) answered with a clear error while the server goes on serving others.
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SESSION_COOKIE, SOCKET_MESSAGE_MAX_BYTES } from '../../protocol/socket/common.js';
import { WORKSPACE_LIMITS } from '../../protocol/socket/files.js';
import { startPrivateRedis } from '../../scripts/redis.js';
import { keysUnder, removeKeysUnder, testClient, testPrefix, testRedisUrl } from '../../worker/src/queue/test-support/redis.js';
import type { Gateway } from './gateway.js';
import { DEFAULT_RATE_LIMITS } from './rate-limit.js';
import { browser, gatewayProcess as startGatewayProcess, learner, testGateway, testSecret, type Browser } from './test-support/gateway.js';
import { STARTER_DOCKERFILE } from './workspace.js';

const redis = testClient();
const prefix = testPrefix('files');
const secret = testSecret();
// Generous write limits here: the rate limit has its own test below.
const rateLimits = { ...DEFAULT_RATE_LIMITS, fileWrites: { burst: 100_000, perSecond: 1000 } };
let gateway: Gateway;
const children: ChildProcess[] = [];
const open: Browser[] = [];

async function track<T extends Browser>(b: Promise<T>): Promise<T> {
  const it = await b;
  open.push(it);
  return it;
}

async function gatewayProcess(): Promise<{ child: ChildProcess; url: string }> {
  const started = await startGatewayProcess({ redisUrl: testRedisUrl(), prefix, secret });
  children.push(started.child);
  return started;
}

async function stopProcess(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill(signal);
  await exited;
}

beforeAll(async () => {
  gateway = await testGateway({ redisUrl: testRedisUrl(), prefix, secret, rateLimits });
});

afterAll(async () => {
  for (const b of open) b.close();
  for (const c of children) await stopProcess(c, 'SIGKILL');
  await gateway.close();
  await removeKeysUnder(redis, prefix);
  expect(await keysUnder(redis, prefix)).toEqual([]);
  await redis.quit();
});

describe('the workspace', () => {
  it('a first visit gets the starter Dockerfile, once', async () => {
    const a = await track(learner(gateway.url));
    const first = await a.request('files:list', {});
    expect(first).toMatchObject({ ok: true, files: [{ path: 'Dockerfile', text: true }], limits: WORKSPACE_LIMITS });
    expect(await a.request('files:read', { path: 'Dockerfile' })).toMatchObject({ ok: true, file: { content: STARTER_DOCKERFILE, encoding: 'utf8' } });
    expect(await a.request('files:delete', { path: 'Dockerfile' })).toEqual({ ok: true });
    expect(await a.request('files:list', {})).toMatchObject({ ok: true, files: [] });
  });

  it('write, read, rename (a file and a folder), delete; binary kept byte for byte', async () => {
    const a = await track(learner(gateway.url));
    const bytes = Buffer.from([0, 255, 1, 254, 0xc3, 0x28]);
    expect(await a.request('files:write', { path: 'app/main.sh', content: 'echo hi\n', mode: 0o755 })).toMatchObject({ ok: true, file: { path: 'app/main.sh', sizeBytes: 8, mode: 0o755, text: true } });
    expect(await a.request('files:write', { path: 'app/blob.bin', content: bytes.toString('base64'), encoding: 'base64' })).toMatchObject({ ok: true, file: { text: false, sizeBytes: 6 } });
    expect(await a.request('files:read', { path: 'app/blob.bin' })).toMatchObject({ ok: true, file: { encoding: 'base64', content: bytes.toString('base64') } });
    expect(await a.request('files:rename', { from: 'app/main.sh', to: 'app/run.sh' })).toMatchObject({ ok: true, file: { path: 'app/run.sh', mode: 0o755 } });
    expect(await a.request('files:rename', { from: 'app', to: 'src' })).toMatchObject({ ok: true });
    const listed = await a.request('files:list', {});
    expect(listed.files.map((f: { path: string }) => f.path)).toEqual(['Dockerfile', 'src/blob.bin', 'src/run.sh']);
    expect(await a.request('files:rename', { from: 'src/run.sh', to: 'Dockerfile' })).toMatchObject({ ok: false, error: { key: 'files.exists' } });
    // A file cannot sit where a folder is, nor under a file.
    expect(await a.request('files:write', { path: 'src', content: 'x' })).toMatchObject({ ok: false, error: { key: 'files.exists', facts: { path: expect.stringMatching(/^src\//) } } });
    expect(await a.request('files:write', { path: 'Dockerfile/x', content: 'x' })).toMatchObject({ ok: false, error: { key: 'files.exists', facts: { path: 'Dockerfile' } } });
    expect(await a.request('files:delete', { path: 'src' })).toEqual({ ok: true });
    expect(await a.request('files:read', { path: 'src/run.sh' })).toMatchObject({ ok: false, error: { key: 'files.notFound' } });
  });

  it('paths outside the context are refused, whatever the spelling', async () => {
    const a = await track(learner(gateway.url));
    for (const path of ['/etc/passwd', '../x', 'a/../../x', 'a//b', './a', 'a/.', 'a\\b', 'a\u0000b', 'a\nb', '', 'x'.repeat(2000)]) {
      const reply = await a.request('files:write', { path, content: 'x' });
      expect(reply, JSON.stringify(path)).toMatchObject({ ok: false, error: { kind: 'learner', key: 'socket.badMessage' } });
    }
    const upload = await fetch(`${gateway.url}/api/files/upload?path=${encodeURIComponent('../../etc/x')}`, { method: 'POST', headers: { cookie: a.cookie }, body: 'x' });
    expect(upload.status).toBe(400);
    expect(await upload.json()).toMatchObject({ ok: false, error: { key: 'files.badPath' } });
  });

  it('a second tab, on another app process, sees each change at once', async () => {
    const other = await gatewayProcess();
    const tab1 = await track(learner(gateway.url));
    const tab2 = await track(browser(other.url, tab1.cookie));
    const stranger = await track(learner(other.url));
    let strangerHeard = 0;
    stranger.socket.on('files:changed', () => strangerHeard++);
    const heard = tab2.next('files:changed', (m: any) => m.file?.path === 'notes.txt');
    await tab1.request('files:write', { path: 'notes.txt', content: 'from tab 1' });
    expect(await heard).toMatchObject({ change: 'written', origin: tab1.socket.id, file: { path: 'notes.txt', sizeBytes: 10 } });
    const deleted = tab1.next('files:changed', (m: any) => m.change === 'deleted');
    await tab2.request('files:delete', { path: 'notes.txt' });
    expect(await deleted).toMatchObject({ change: 'deleted', path: 'notes.txt', origin: tab2.socket.id });
    // Control: the same room mechanism with another session's socket hears nothing.
    expect(strangerHeard).toBe(0);
  });

  it('files survive a restart of the gateway process (killed outright)', async () => {
    const first = await gatewayProcess();
    const a = await track(learner(first.url));
    await a.request('files:write', { path: 'keep.txt', content: 'still here' });
    a.close();
    await stopProcess(first.child, 'SIGKILL');
    const second = await gatewayProcess();
    const again = await track(browser(second.url, a.cookie));
    expect(await again.request('files:read', { path: 'keep.txt' })).toMatchObject({ ok: true, file: { content: 'still here' } });
  });

  it('files survive a restart of every process, Redis included (its AOF)', async () => {
    // A Redis of this test's own, started as npm start starts the product's (AOF on).
    const dir = mkdtempSync(join(tmpdir(), 'lc-files-aof-'));
    let server = await startPrivateRedis({ dir });
    try {
      let own = await testGateway({ redisUrl: server.url, prefix, secret });
      const a = await track(learner(own.url));
      await a.request('files:write', { path: 'Dockerfile', content: 'FROM busybox\nRUN echo kept\n' });
      a.close();
      await own.close();
      await server.stop();
      server = await startPrivateRedis({ dir });
      own = await testGateway({ redisUrl: server.url, prefix, secret });
      try {
        const again = await track(browser(own.url, a.cookie));
        expect(await again.request('files:read', { path: 'Dockerfile' })).toMatchObject({ ok: true, file: { content: 'FROM busybox\nRUN echo kept\n' } });
      } finally {
        await own.close();
      }
    } finally {
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('limits and bad input', () => {
  it('a 5 MB Dockerfile is refused over the socket and over HTTP; a 300 KiB one as too large for a Dockerfile', async () => {
    const a = await track(learner(gateway.url));
    await a.request('files:list', {});
    const big = `FROM busybox\n${'RUN true\n'.repeat(600_000)}`;
    // Over the socket it does not even fit one message: the connection is dropped, not the server.
    const dropped = a.next('disconnect', () => true);
    a.socket.emit('files:write', { path: 'Dockerfile', content: big }, () => undefined);
    expect(await dropped).toBe('transport close');
    const b = await track(browser(gateway.url, a.cookie));
    const viaHttp = await fetch(`${gateway.url}/api/files/upload?path=Dockerfile`, { method: 'POST', headers: { cookie: a.cookie }, body: big });
    expect(viaHttp.status).toBe(413);
    expect(await viaHttp.json()).toMatchObject({ ok: false, error: { kind: 'learner', key: 'files.tooLarge', facts: { path: 'Dockerfile', limit: '2 MiB' } } });
    const mid = await b.request('files:write', { path: 'Dockerfile', content: 'x'.repeat(300 * 1024) });
    expect(mid).toMatchObject({ ok: false, error: { key: 'build.dockerfileTooLarge', facts: { size: '300 KiB', limit: '256 KiB' } } });
    const other = await b.request('files:write', { path: 'data.txt', content: 'x'.repeat(2 * 1024 * 1024 + 1) });
    expect(other).toMatchObject({ ok: false, error: { key: 'files.tooLarge' } });
    // The starter Dockerfile is untouched.
    expect(await b.request('files:read', { path: 'Dockerfile' })).toMatchObject({ ok: true, file: { content: STARTER_DOCKERFILE } });
  });

  it('a 200 MB upload is refused at the limit without being held in memory', async () => {
    const a = await track(learner(gateway.url));
    const chunk = Buffer.alloc(1024 * 1024, 0x61);
    let sent = 0;
    // No content-length (chunked), so the gateway must count as it reads.
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent >= 200) return controller.close();
        sent++;
        controller.enqueue(chunk);
      },
    });
    const rssBefore = process.memoryUsage().rss;
    const res = await fetch(`${gateway.url}/api/files/upload?path=big.bin`, { method: 'POST', headers: { cookie: a.cookie }, body, duplex: 'half' } as RequestInit);
    expect(res.status).toBe(413);
    expect(await res.json()).toMatchObject({ ok: false, error: { key: 'files.tooLarge', facts: { path: 'big.bin' } } });
    // It stopped reading long before the end (the client was cut off within a few MiB).
    expect(sent).toBeLessThan(40);
    expect(process.memoryUsage().rss - rssBefore).toBeLessThan(100 * 1024 * 1024);
    // With a content-length, it is refused before a byte of the body is read.
    const declared = await fetch(`${gateway.url}/api/files/upload?path=big.bin`, { method: 'POST', headers: { cookie: a.cookie, 'content-length': String(200 * 1024 * 1024) }, body: 'x'.repeat(10) }).catch((e: Error) => e);
    if (!(declared instanceof Error)) expect(declared.status).toBe(413);
    expect(await a.request('files:read', { path: 'big.bin' })).toMatchObject({ ok: false, error: { key: 'files.notFound' } });
    // The server goes on serving.
    const b = await track(learner(gateway.url));
    expect(await b.request('files:list', {})).toMatchObject({ ok: true });
  });

  it('an upload within the limit is saved, and binary garbage as the Dockerfile is kept as binary', async () => {
    const a = await track(learner(gateway.url));
    const garbage = Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919 + 13) % 256));
    const res = await fetch(`${gateway.url}/api/files/upload?path=Dockerfile`, { method: 'POST', headers: { cookie: a.cookie }, body: garbage });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ ok: true, file: { path: 'Dockerfile', sizeBytes: 4096, text: false } });
    expect(await a.request('files:read', { path: 'Dockerfile' })).toMatchObject({ ok: true, file: { encoding: 'base64', content: garbage.toString('base64') } });
    // Building it is refused before any job: see runs.test.ts (build.dockerfileNotText).
  });

  it('20,000 context files: the 501st is refused with files.tooMany, and the total size is bounded too', async () => {
    const a = await track(learner(gateway.url));
    await a.request('files:list', {}); // the starter Dockerfile is file 1
    const replies = await Promise.all(Array.from({ length: 20_000 }, (_, i) => a.request('files:write', { path: `ctx/f${i}.txt`, content: 'x' }, 120_000)));
    const ok = replies.filter((r) => r.ok).length;
    expect(ok).toBe(WORKSPACE_LIMITS.files - 1);
    const refused = replies.filter((r) => !r.ok);
    expect(refused).toHaveLength(20_000 - ok);
    expect(new Set(refused.map((r) => r.error.key))).toEqual(new Set(['files.tooMany']));
    expect((await a.request('files:list', {})).files).toHaveLength(WORKSPACE_LIMITS.files);

    const b = await track(learner(gateway.url));
    const twoMiB = 'y'.repeat(2 * 1024 * 1024 - 100);
    const sizes = [];
    for (let i = 0; i < 6; i++) sizes.push(await b.request('files:write', { path: `big${i}.txt`, content: twoMiB }));
    expect(sizes.slice(0, 4).every((r) => r.ok)).toBe(true);
    expect(sizes[5]).toMatchObject({ ok: false, error: { key: 'files.workspaceFull', facts: { limit: '10 MiB' } } });
  }, 180_000);

  it('malformed messages get socket.badMessage and the connection stays up', async () => {
    const a = await track(learner(gateway.url));
    const bad: unknown[] = [null, 42, 'files', [], { path: 5 }, { path: 'a', content: 7 }, { path: 'a', content: 'x', encoding: 'hex' }, { path: 'a', content: 'x', extra: 1 }, { path: 'a', content: 'x', mode: -1 }];
    for (const payload of bad) {
      expect(await a.request('files:write', payload), JSON.stringify(payload)).toMatchObject({ ok: false, error: { kind: 'learner', key: 'socket.badMessage' } });
    }
    expect(await a.request('files:write', { path: 'b.bin', content: '!!not base64!!', encoding: 'base64' })).toMatchObject({ ok: false, error: { key: 'files.badEncoding' } });
    // Two payloads, or none: refused too.
    expect(await a.socket.timeout(5000).emitWithAck('files:list', {}, {})).toMatchObject({ ok: false, error: { key: 'socket.badMessage' } });
    expect(await a.socket.timeout(5000).emitWithAck('files:list')).toMatchObject({ ok: false, error: { key: 'socket.badMessage' } });
    // An unknown event and one without an ack are ignored; the socket still answers.
    a.socket.emit('no:such:event', { x: 1 });
    a.socket.emit('files:write', { path: 'noack.txt', content: 'x' });
    expect(a.socket.connected).toBe(true);
    expect(await a.request('files:list', {})).toMatchObject({ ok: true });
  });

  it('a broken socket.io packet or an oversized one drops only that connection', async () => {
    const { WebSocket } = await import('ws');
    const a = await track(learner(gateway.url));
    const raw = new WebSocket(`${gateway.url.replace('http', 'ws')}/socket.io/?EIO=4&transport=websocket`, { headers: { cookie: a.cookie } });
    const closed = new Promise<number>((resolve) => raw.on('close', (code) => resolve(code)));
    await new Promise((r) => raw.once('message', r)); // engine.io open
    raw.send('40');
    await new Promise((r) => raw.once('message', r)); // socket.io connect ack
    raw.send('42["files:write",{"path":'); // not JSON: the parser refuses it
    expect(await closed).toBeGreaterThan(0);
    const big = new WebSocket(`${gateway.url.replace('http', 'ws')}/socket.io/?EIO=4&transport=websocket`, { headers: { cookie: a.cookie } });
    const bigClosed = new Promise<number>((resolve) => big.on('close', (code) => resolve(code)));
    await new Promise((r) => big.once('message', r));
    big.send(`42["files:write",{"path":"x","content":"${'z'.repeat(SOCKET_MESSAGE_MAX_BYTES + 10)}"}]`);
    expect(await bigClosed).toBe(1009); // message too big
    expect(a.socket.connected).toBe(true);
    expect(await a.request('files:list', {})).toMatchObject({ ok: true });
  });

  it('saving too often is rate limited with the seconds to wait', async () => {
    const strict = await testGateway({ redisUrl: testRedisUrl(), prefix, secret, rateLimits: { ...DEFAULT_RATE_LIMITS, fileWrites: { burst: 3, perSecond: 0.5 } } });
    try {
      const a = await track(learner(strict.url));
      const replies = [];
      for (let i = 0; i < 5; i++) replies.push(await a.request('files:write', { path: `r${i}.txt`, content: 'x' }));
      expect(replies.slice(0, 3).every((r) => r.ok)).toBe(true);
      expect(replies[3]).toMatchObject({ ok: false, error: { kind: 'learner', key: 'rateLimited.fileWrites', facts: { seconds: 2 } } });
      // Another session has its own bucket.
      const b = await track(learner(strict.url));
      expect(await b.request('files:write', { path: 'r.txt', content: 'x' })).toMatchObject({ ok: true });
    } finally {
      await strict.close();
    }
  });

  it('an internal error reaches the browser as an apology with an id, and the log has the rest', async () => {
    const lines: any[] = [];
    const log = pino({ level: 'error' }, { write: (line: string) => void lines.push(JSON.parse(line)) });
    const broken = await testGateway({ redisUrl: testRedisUrl(), prefix, secret, log });
    try {
      const a = await track(learner(broken.url));
      // Its Redis goes away under it: every request now fails inside the gateway.
      broken.context.redis.disconnect();
      const reply = await a.request('files:list', {});
      expect(reply).toEqual({ ok: false, error: { kind: 'internal', errorId: expect.stringMatching(/^G[0-9A-F]{10}$/) } });
      expect(lines.find((l) => l.errorId === reply.error.errorId)).toMatchObject({ event: 'files:list', err: { stack: expect.any(String) } });
      expect(a.socket.connected).toBe(true);
      // Other gateways are untouched.
      const b = await track(learner(gateway.url));
      expect(await b.request('files:list', {})).toMatchObject({ ok: true });
    } finally {
      await broken.close();
    }
  });

  it('an upload sent by a page of another site is refused, even with the learner’s cookie', async () => {
    const a = await track(learner(gateway.url));
    const host = new URL(gateway.url).host;
    const evil = await fetch(`${gateway.url}/api/files/upload?path=evil.txt`, { method: 'POST', headers: { cookie: a.cookie, origin: 'http://evil.example' }, body: 'x' });
    expect(evil.status).toBe(403);
    expect(await evil.json()).toMatchObject({ ok: false, error: { kind: 'learner', key: 'http.crossOrigin' } });
    expect(await a.request('files:read', { path: 'evil.txt' })).toMatchObject({ ok: false, error: { key: 'files.notFound' } });
    // Control: the same request from the site's own page is saved.
    const same = await fetch(`${gateway.url}/api/files/upload?path=evil.txt`, { method: 'POST', headers: { cookie: a.cookie, origin: `http://${host}` }, body: 'x' });
    expect(same.status).toBe(200);
  });

  it('no cookie over HTTP: the upload is refused as its own new session, never another', async () => {
    const a = await track(learner(gateway.url));
    const res = await fetch(`${gateway.url}/api/files/upload?path=x.txt`, { method: 'POST', headers: { cookie: `${SESSION_COOKIE}=${a.sessionId}.forged` }, body: 'x' });
    // A forged cookie is replaced by a new session: the file lands there, not in A's files.
    expect(res.headers.get('set-cookie')).toMatch(new RegExp(`^${SESSION_COOKIE}=`));
    expect(res.headers.get('set-cookie')).not.toContain(a.sessionId);
    expect(await a.request('files:read', { path: 'x.txt' })).toMatchObject({ ok: false, error: { key: 'files.notFound' } });
  });
});
