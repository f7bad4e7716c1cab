// The pass a gateway gives a browser for one terminal on a worker host's direct endpoint
// (worker/src/terminals/endpoint.ts): after the engine approved the open, the gateway signs who
// may attach (session), to what (container), where (host), from which page (origin) and until
// when; the endpoint checks the signature in constant time and every claim before the socket may
// do anything. The key is the host's own, published beside its endpoint's address in Redis
// (`host:<host>:terminal-endpoint`): whoever can read it can already write to the terminal's
// streams, so it adds no secret to deploy and works on any number of hosts.
//
//   token = base64url(JSON claims) "." base64url(HMAC-SHA256(key, "terminal:" + claims part))
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Redis } from 'ioredis';

/** How long a browser has to connect with a token (it asks for a new one on every reconnect). */
export const TERMINAL_TOKEN_TTL_MS = 30_000;
/** Longer is no token of ours: refused before any decoding. */
export const TERMINAL_TOKEN_MAX_CHARS = 1024;

export interface TerminalClaims {
  /** The session the engine checked the container against. */
  s: string;
  /** The container's full id. */
  c: string;
  /** The worker host whose endpoint may honour it. */
  h: string;
  /** The page's origin as the gateway saw it ('' for a client that sent none). */
  o: string;
  /** Expiry, ms since the epoch. */
  e: number;
}

/** Where a host's endpoint is: a public URL (behind a proxy) or a port on the app's host name. */
export interface TerminalEndpointInfo {
  url: string | null;
  port: number;
  key: Buffer;
}

export const terminalEndpointKey = (prefix: string, hostId: string) => `${prefix}:host:${hostId}:terminal-endpoint`;

const mac = (key: Buffer, body: string) => createHmac('sha256', key).update(`terminal:${body}`).digest();

export function signTerminalToken(key: Buffer, claims: TerminalClaims): string {
  const body = Buffer.from(JSON.stringify(claims)).toString('base64url');
  return `${body}.${mac(key, body).toString('base64url')}`;
}

export type TokenCheck = { ok: true; claims: TerminalClaims } | { ok: false; reason: 'malformed' | 'signature' | 'expired' };

/** The claims of a token this key signed and that has not expired; never throws. */
export function verifyTerminalToken(key: Buffer, token: unknown, now = Date.now()): TokenCheck {
  if (typeof token !== 'string' || token.length > TERMINAL_TOKEN_MAX_CHARS) return { ok: false, reason: 'malformed' };
  const dot = token.indexOf('.');
  if (dot <= 0) return { ok: false, reason: 'malformed' };
  const body = token.slice(0, dot);
  const given = Buffer.from(token.slice(dot + 1), 'base64url');
  const want = mac(key, body);
  if (given.length !== want.length || !timingSafeEqual(given, want)) return { ok: false, reason: 'signature' };
  let claims: TerminalClaims;
  try {
    claims = JSON.parse(Buffer.from(body, 'base64url').toString()) as TerminalClaims;
  } catch {
    return { ok: false, reason: 'malformed' };
  }
  const strings = [claims?.s, claims?.c, claims?.h, claims?.o];
  if (!strings.every((v) => typeof v === 'string') || typeof claims.e !== 'number') return { ok: false, reason: 'malformed' };
  if (now >= claims.e) return { ok: false, reason: 'expired' };
  return { ok: true, claims };
}

/**
 * Publishes a host's endpoint: its key is made once (HSETNX, so a restarted worker honours the
 * tokens handed out just before) and returned.
 */
export async function publishTerminalEndpoint(redis: Redis, prefix: string, hostId: string, endpoint: { url: string | null; port: number }): Promise<Buffer> {
  const key = terminalEndpointKey(prefix, hostId);
  const results = await redis
    .multi()
    .hsetnx(key, 'key', randomBytes(32).toString('base64'))
    .hset(key, 'port', String(endpoint.port), 'url', endpoint.url ?? '')
    .hget(key, 'key')
    .exec();
  const stored = results?.[2]?.[1];
  if (typeof stored !== 'string') throw new Error(`the terminal endpoint key of ${hostId} was not stored`);
  return Buffer.from(stored, 'base64');
}

/** The endpoint stops: gateways hand out the relayed path until it is published again. */
export async function withdrawTerminalEndpoint(redis: Redis, prefix: string, hostId: string): Promise<void> {
  await redis.hdel(terminalEndpointKey(prefix, hostId), 'port', 'url');
}

/** A host's published endpoint, or null when it has none (not started, stopped, or failed to listen). */
export async function terminalEndpointOf(redis: Redis, prefix: string, hostId: string): Promise<TerminalEndpointInfo | null> {
  const [key, port, url] = await redis.hmget(terminalEndpointKey(prefix, hostId), 'key', 'port', 'url');
  if (!key || !port) return null;
  return { key: Buffer.from(key, 'base64'), port: Number(port), url: url || null };
}
