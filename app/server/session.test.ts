// The session cookie: issued over HTTP with the right flags, checked on every socket handshake,
// and the only source of a socket's session (a message naming another session changes nothing).
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SESSION_COOKIE } from '../../protocol/socket/common.js';
import { keysUnder, removeKeysUnder, testClient, testPrefix, testRedisUrl } from '../../worker/src/queue/test-support/redis.js';
import type { Gateway } from './gateway.js';
import { loadSecret, newSessionId, Sessions } from './session.js';
import { browser, learner, newSessionCookie, sessionIdOf, testGateway, testSecret } from './test-support/gateway.js';

const redis = testClient();
const prefix = testPrefix('session');
const secret = testSecret();
let gateway: Gateway;

beforeAll(async () => {
  gateway = await testGateway({ redisUrl: testRedisUrl(), prefix, secret });
});

afterAll(async () => {
  await gateway.close();
  await removeKeysUnder(redis, prefix);
  expect(await keysUnder(redis, prefix)).toEqual([]);
  await redis.quit();
});

describe('session cookie', () => {
  it('is issued once, httpOnly and SameSite=Lax, Secure only behind https, for a year', async () => {
    const res = await fetch(`${gateway.url}/api/session`);
    const cookie = res.headers.get('set-cookie')!;
    expect(cookie).toMatch(new RegExp(`^${SESSION_COOKIE}=[a-z0-9]{24}\\.[A-Za-z0-9_-]{43}; Path=/; HttpOnly; SameSite=Lax; Max-Age=31536000$`));
    // A browser that has a valid cookie is not given another.
    const again = await fetch(`${gateway.url}/api/session`, { headers: { cookie: cookie.split(';')[0]! } });
    expect(again.headers.get('set-cookie')).toBeNull();
    const proxied = await fetch(`${gateway.url}/api/session`, { headers: { 'x-forwarded-proto': 'https' } });
    expect(proxied.headers.get('set-cookie')).toMatch(/; Secure$/);
  });

  it('session ids have the form protocol/jobs.ts requires, and differ', () => {
    const ids = new Set(Array.from({ length: 1000 }, newSessionId));
    expect(ids.size).toBe(1000);
    for (const id of ids) expect(id).toMatch(/^[a-z0-9]{24}$/);
  });

  it('a socket without a cookie, or with a tampered or foreign-signed one, is refused with session.missing', async () => {
    const good = await newSessionCookie(gateway.url);
    const id = sessionIdOf(good);
    const otherId = newSessionId();
    const signature = good.split('.')[1]!;
    const foreign = new Sessions(testSecret()).sign(otherId);
    const attempts = [
      null,
      `${SESSION_COOKIE}=${otherId}.${signature}`, // another id under this id's signature
      `${SESSION_COOKIE}=${id}.${signature.slice(0, -2)}AA`, // a flipped signature
      `${SESSION_COOKIE}=${id}`, // no signature
      `${SESSION_COOKIE}=${foreign}`, // signed with another secret
      `${SESSION_COOKIE}=${id.toUpperCase()}.${signature}`,
    ];
    for (const cookie of attempts) {
      const refused = await browser(gateway.url, cookie).then(
        () => null,
        (err: Error & { data?: unknown }) => err,
      );
      expect(refused, String(cookie)).not.toBeNull();
      expect(refused!.message).toBe('session.missing');
      expect(refused!.data).toEqual({ kind: 'learner', key: 'session.missing', facts: {} });
    }
    // Control: the untampered cookie connects.
    const ok = await browser(gateway.url, good);
    expect(ok.socket.connected).toBe(true);
    ok.close();
  });

  it('a handshake from a page of another origin is refused, even with the learner’s cookie', async () => {
    const cookie = await newSessionCookie(gateway.url);
    const host = new URL(gateway.url).host;
    const evil = await browser(gateway.url, cookie, { origin: 'http://evil.example' }).then(() => null, (err: Error) => err);
    expect(evil).not.toBeNull();
    // Control: the same cookie from the site's own origin connects.
    const same = await browser(gateway.url, cookie, { origin: `http://${host}` });
    expect(same.socket.connected).toBe(true);
    same.close();
  });

  it('the session is never taken from a message', async () => {
    const a = await learner(gateway.url);
    const b = await learner(gateway.url);
    await a.request('files:write', { path: 'secret.txt', content: 'A only' });
    // B names A's session in the message: refused as a bad message, not obeyed.
    const named = await b.request('files:list', { sessionId: a.sessionId });
    expect(named).toMatchObject({ ok: false, error: { kind: 'learner', key: 'socket.badMessage' } });
    const op = await b.request('runs:container', { op: 'list', sessionId: a.sessionId });
    expect(op).toMatchObject({ ok: false, error: { kind: 'learner', key: 'socket.badMessage' } });
    const read = await b.request('files:read', { path: 'secret.txt' });
    expect(read).toMatchObject({ ok: false, error: { key: 'files.notFound' } });
    // Control: A reads it.
    expect(await a.request('files:read', { path: 'secret.txt' })).toMatchObject({ ok: true, file: { content: 'A only' } });
    a.close();
    b.close();
  });
});

describe('the secret', () => {
  it('is made once with mode 0600 and then kept; LAYERCAKE_APP_SECRET wins when given', () => {
    const dir = mkdtempSync(join(tmpdir(), 'lc-secret-'));
    try {
      const file = join(dir, 'sub', 'app-secret');
      const first = loadSecret(file, undefined);
      expect(statSync(file).mode & 0o777).toBe(0o600);
      expect(loadSecret(file, undefined).equals(first)).toBe(true);
      expect(readFileSync(file, 'utf8')).toMatch(/^[0-9a-f]{64}$/);
      expect(loadSecret(file, 'x'.repeat(40)).toString()).toBe('x'.repeat(40));
      expect(() => loadSecret(file, 'short')).toThrow(/32/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
