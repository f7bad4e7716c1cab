// Anonymous learners' sessions: a random id in a cookie signed with HMAC-SHA256. The id becomes
// part of image names and Redis keys (protocol/jobs.ts sessionId: lowercase letters and digits),
// so it is checked against that form as well as the signature. The secret is generated on first
// start and kept in .data/app-secret (0600), shared by every app process on the host; several
// hosts share one through LAYERCAKE_APP_SECRET.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { dirname } from 'node:path';
import { SESSION_COOKIE } from '../../protocol/socket/common.js';

const SESSION_ID = /^[a-z0-9]{24}$/;
/** A learner's playground outlives a browser restart: a year, renewed on every page load. */
export const SESSION_MAX_AGE_SECONDS = 365 * 24 * 3600;

/** The secret from the environment, or the host's file (created with 0600 on first start). */
export function loadSecret(file: string, fromEnv: string | undefined): Buffer {
  if (fromEnv !== undefined) {
    if (fromEnv.length < 32) throw new Error('LAYERCAKE_APP_SECRET must be at least 32 characters');
    return Buffer.from(fromEnv, 'utf8');
  }
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  try {
    // 'wx': two app processes starting at once never overwrite each other's secret.
    writeFileSync(file, randomBytes(32).toString('hex'), { flag: 'wx', mode: 0o600 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  chmodSync(file, 0o600);
  const secret = readFileSync(file, 'utf8').trim();
  if (secret.length < 32) throw new Error(`${file} holds no usable secret (remove it to make a new one)`);
  return Buffer.from(secret, 'utf8');
}

export function newSessionId(): string {
  // 24 base-36 digits from 15 random bytes (~120 bits), lowercase letters and digits only.
  return BigInt(`0x${randomBytes(16).toString('hex')}`).toString(36).padStart(25, '0').slice(-24);
}

export class Sessions {
  constructor(private readonly secret: Buffer) {}

  private mac(id: string): Buffer {
    return createHmac('sha256', this.secret).update(`session:${id}`).digest();
  }

  sign(id: string): string {
    return `${id}.${this.mac(id).toString('base64url')}`;
  }

  /** The session id of a cookie value, or null when it is malformed or its signature is wrong. */
  verify(value: string | undefined): string | null {
    if (!value) return null;
    const dot = value.indexOf('.');
    if (dot < 0) return null;
    const id = value.slice(0, dot);
    if (!SESSION_ID.test(id)) return null;
    const given = Buffer.from(value.slice(dot + 1), 'base64url');
    const expected = this.mac(id);
    return given.length === expected.length && timingSafeEqual(given, expected) ? id : null;
  }

  /** The session of a request (HTTP or the socket.io handshake), from its Cookie header only. */
  fromRequest(req: IncomingMessage): string | null {
    return this.verify(cookieValue(req.headers.cookie, SESSION_COOKIE));
  }

  /**
   * The request's session, issuing a new cookie when it has none or a bad one. Secure only when
   * the browser reached us over https (directly or through a proxy that says so).
   */
  ensure(req: IncomingMessage, res: ServerResponse): string {
    const existing = this.fromRequest(req);
    const id = existing ?? newSessionId();
    if (!existing) {
      const https = (req.socket as { encrypted?: boolean }).encrypted === true || req.headers['x-forwarded-proto'] === 'https';
      const cookie = [
        `${SESSION_COOKIE}=${this.sign(id)}`,
        'Path=/',
        'HttpOnly',
        'SameSite=Lax',
        `Max-Age=${SESSION_MAX_AGE_SECONDS}`,
        ...(https ? ['Secure'] : []),
      ].join('; ');
      const prior = res.getHeader('set-cookie');
      res.setHeader('set-cookie', [...(Array.isArray(prior) ? prior : prior ? [String(prior)] : []), cookie]);
    }
    return id;
  }
}

/** One cookie's value from a Cookie header (the first of that name, as browsers send it). */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}
