// A real gateway for tests: the features on a real Redis (the run's redis-server, a key prefix
// of the test's own), without Next's handler (pages are the e2e suite's). Browsers are
// socket.io-client sockets carrying the cookie the gateway issued over HTTP, as a browser does.
import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { pino } from 'pino';
import { io as connect, type Socket } from 'socket.io-client';
import { SESSION_COOKIE, SESSION_PATH } from '../../../protocol/socket/common.js';
import { startGateway, type Gateway, type GatewayOptions } from '../gateway.js';

export const testLog = pino({ level: process.env.LAYERCAKE_TEST_LOG ?? 'silent' });

export function testSecret(): Buffer {
  return Buffer.from(randomBytes(32).toString('hex'));
}

export function testGateway(options: { redisUrl: string; prefix: string; secret: Buffer } & Partial<GatewayOptions>): Promise<Gateway> {
  return startGateway({ log: testLog, port: 0, host: '127.0.0.1', ...options });
}

/** What a browser gets on its first page load: the Set-Cookie value, as `name=value`. */
export async function newSessionCookie(url: string): Promise<string> {
  const res = await fetch(`${url}${SESSION_PATH}`);
  const header = res.headers.get('set-cookie') ?? '';
  const pair = header.split(';')[0]!;
  if (!pair.startsWith(`${SESSION_COOKIE}=`)) throw new Error(`no session cookie in ${JSON.stringify(header)}`);
  return pair;
}

export function sessionIdOf(cookie: string): string {
  return cookie.slice(SESSION_COOKIE.length + 1).split('.')[0]!;
}

export interface Browser {
  socket: Socket;
  cookie: string;
  request<T = any>(event: string, payload: unknown, timeoutMs?: number): Promise<T>;
  /** Resolves with the next `event` message that matches. */
  next<T = any>(event: string, match?: (m: T) => boolean, timeoutMs?: number): Promise<T>;
  close(): void;
}

/** A connected socket.io-client with this cookie (or none); rejects with the handshake's refusal. */
export async function browser(url: string, cookie?: string | null, headers: Record<string, string> = {}, auth?: Record<string, unknown>): Promise<Browser> {
  const socket = connect(url, {
    transports: ['websocket'],
    reconnection: false,
    forceNew: true,
    extraHeaders: { ...headers, ...(cookie ? { cookie } : {}) },
    ...(auth ? { auth } : {}),
  });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('connect_error', (err) => {
      socket.close();
      reject(err);
    });
  });
  return {
    socket,
    cookie: cookie ?? '',
    request: (event, payload, timeoutMs = 30_000) => socket.timeout(timeoutMs).emitWithAck(event, payload),
    next: (event, match = () => true, timeoutMs = 30_000) =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          socket.off(event, listener);
          reject(new Error(`no ${event} within ${timeoutMs} ms`));
        }, timeoutMs);
        const listener = (m: any) => {
          if (!match(m)) return;
          clearTimeout(timer);
          socket.off(event, listener);
          resolve(m);
        };
        socket.on(event, listener);
      }),
    close: () => void socket.close(),
  };
}

/** A new learner: a fresh cookie from the gateway and a socket carrying it (and `auth` in its handshake). */
export async function learner(url: string, auth?: Record<string, unknown>): Promise<Browser & { sessionId: string }> {
  const cookie = await newSessionCookie(url);
  return Object.assign(await browser(url, cookie, {}, auth), { sessionId: sessionIdOf(cookie) });
}

/** A gateway in its own process on the same Redis, as `npm run app` starts another (all features, no Next). */
export async function gatewayProcess(options: { redisUrl: string; prefix: string; secret: Buffer }): Promise<{ child: ChildProcess; url: string; stop(signal?: NodeJS.Signals): Promise<void> }> {
  const child = fork(join(import.meta.dirname, 'gateway-process.ts'), [], {
    execArgv: ['--import', 'tsx'],
    env: { ...process.env, REDIS_URL: options.redisUrl, PREFIX: options.prefix, SECRET_HEX: options.secret.toString('hex') },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const url = await new Promise<string>((resolve, reject) => {
    child.once('message', (m: { url: string }) => resolve(m.url));
    child.once('exit', (code) => reject(new Error(`gateway process exited (${code})`)));
  });
  return {
    child,
    url,
    async stop(signal = 'SIGTERM') {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill(signal);
      await exited;
    },
  };
}
