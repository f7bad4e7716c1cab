// An OCI Distribution API (v2) client: the HTTP half of pull and push. It speaks the spec's
// endpoints (distribution-spec "spec.md": /v2/, manifests, blobs, blob uploads) and the two
// auth schemes registries use (RFC 7617 Basic, and Docker's token auth: a Bearer challenge
// naming a realm that hands out a token for a scope). It knows nothing about the image store.
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { LearnerError } from '../../../protocol/errors.js';

export interface Credentials {
  username: string;
  password: string;
}

export interface RegistryEndpoint {
  /** As the learner wrote it: `localhost:5000`, `registry-1.docker.io`. */
  host: string;
  /** Plain HTTP for loopback registries (Docker treats them as insecure by default too). */
  insecure: boolean;
}

export interface Response {
  status: number;
  headers: IncomingMessage['headers'];
  body: IncomingMessage;
}

/** Where a registry host is reached: loopback names go to 127.0.0.1 (Node may pick ::1 for localhost). */
export function endpointFor(host: string): RegistryEndpoint {
  const name = host.replace(/:\d+$/, '');
  const insecure = name === 'localhost' || /^127\./.test(name);
  return { host, insecure };
}

function connectHost(host: string): { hostname: string; port: number | undefined } {
  const m = /^(.*?)(?::(\d+))?$/.exec(host)!;
  const hostname = m[1] === 'localhost' ? '127.0.0.1' : m[1]!;
  return { hostname, port: m[2] === undefined ? undefined : Number(m[2]) };
}

/** A registry could not be reached at all (no route, refused, DNS): the learner's "offline". */
export function isUnreachable(err: unknown): boolean {
  const code = (err as { code?: string } | null)?.code ?? '';
  return ['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ENETUNREACH', 'EHOSTUNREACH', 'ETIMEDOUT', 'ECONNRESET'].includes(code);
}

export class DistributionClient {
  private token: string | null = null;
  private basic: boolean = false;

  constructor(
    readonly endpoint: RegistryEndpoint,
    private readonly credentials: Credentials | null,
    private readonly timeoutMs = 30_000,
  ) {}

  /** One request with the auth this client has learnt; on a 401 it answers the challenge once and retries. */
  async send(method: string, path: string, options: { headers?: Record<string, string>; body?: Buffer | NodeJS.ReadableStream; scope?: string } = {}): Promise<Response> {
    const first = await this.raw(method, path, options.headers ?? {}, options.body);
    if (first.status !== 401 || (options.body !== undefined && !Buffer.isBuffer(options.body))) return first;
    const challenge = String(first.headers['www-authenticate'] ?? '');
    first.body.resume();
    if (!(await this.answer(challenge, options.scope))) return first;
    return this.raw(method, path, options.headers ?? {}, options.body);
  }

  /** Learns the auth a registry wants before a streamed upload (which cannot be replayed). */
  async authorize(scope: string): Promise<void> {
    const res = await this.raw('GET', '/v2/', {}, undefined);
    res.body.resume();
    if (res.status === 401) await this.answer(String(res.headers['www-authenticate'] ?? ''), scope);
    if (this.basic || this.token !== null || this.credentials === null) return;
  }

  /** Checks credentials the way `docker login` does: GET /v2/ must succeed with them. */
  async verifyLogin(): Promise<boolean> {
    const res = await this.send('GET', '/v2/', { scope: '' });
    res.body.resume();
    return res.status === 200 && (this.basic || this.token !== null);
  }

  private async answer(challenge: string, scope: string | undefined): Promise<boolean> {
    const scheme = challenge.split(' ', 1)[0]!.toLowerCase();
    if (scheme === 'basic') {
      if (this.credentials === null || this.basic) return false;
      this.basic = true;
      return true;
    }
    if (scheme !== 'bearer') return false;
    const params = Object.fromEntries([...challenge.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1]!.toLowerCase(), m[2]!]));
    if (params.realm === undefined) return false;
    const url = new URL(params.realm);
    if (params.service !== undefined) url.searchParams.set('service', params.service);
    const wanted = scope ?? params.scope;
    if (wanted) url.searchParams.set('scope', wanted);
    const res = await getUrl(url, this.credentials, this.timeoutMs);
    const text = await readAll(res.body, 1 << 20);
    if (res.status !== 200) return false;
    const doc = JSON.parse(text.toString('utf8')) as { token?: string; access_token?: string };
    this.token = doc.token ?? doc.access_token ?? null;
    return this.token !== null;
  }

  private raw(method: string, path: string, headers: Record<string, string>, body: Buffer | NodeJS.ReadableStream | undefined): Promise<Response> {
    const all: Record<string, string> = { ...headers };
    if (this.token !== null) all.authorization = `Bearer ${this.token}`;
    else if (this.basic && this.credentials !== null) all.authorization = basicHeader(this.credentials);
    if (Buffer.isBuffer(body)) all['content-length'] = String(body.length);
    const url = path.startsWith('http') ? new URL(path) : null;
    const { hostname, port } = url ? { hostname: url.hostname, port: url.port ? Number(url.port) : undefined } : connectHost(this.endpoint.host);
    const secure = url ? url.protocol === 'https:' : !this.endpoint.insecure;
    const target = url ? `${url.pathname}${url.search}` : path;
    return new Promise((resolve, reject) => {
      const req = (secure ? httpsRequest : httpRequest)(
        { method, hostname: hostname === 'localhost' ? '127.0.0.1' : hostname, port, path: target, headers: { host: this.endpoint.host, ...all }, timeout: this.timeoutMs },
        (res) => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: res }),
      );
      req.on('timeout', () => req.destroy(Object.assign(new Error('registry request timed out'), { code: 'ETIMEDOUT' })));
      req.on('error', reject);
      if (body === undefined) req.end();
      else if (Buffer.isBuffer(body)) req.end(body);
      else body.pipe(req);
    });
  }
}

function basicHeader(c: Credentials): string {
  return `Basic ${Buffer.from(`${c.username}:${c.password}`).toString('base64')}`;
}

function getUrl(url: URL, credentials: Credentials | null, timeoutMs: number): Promise<Response> {
  const headers: Record<string, string> = credentials ? { authorization: basicHeader(credentials) } : {};
  return new Promise((resolve, reject) => {
    const hostname = url.hostname === 'localhost' ? '127.0.0.1' : url.hostname;
    const req = (url.protocol === 'https:' ? httpsRequest : httpRequest)(
      { method: 'GET', hostname, port: url.port || undefined, path: `${url.pathname}${url.search}`, headers, timeout: timeoutMs },
      (res) => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: res }),
    );
    req.on('error', reject);
    req.end();
  });
}

/** Reads a (small) response body, refusing one larger than `limit`. */
export async function readAll(body: NodeJS.ReadableStream, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) {
      (body as IncomingMessage).destroy?.();
      throw new LearnerError('registry.tooLarge', { limit: String(limit) });
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/** The registry's own error text (distribution-spec error codes), for a refused request. */
export async function registryError(res: Response): Promise<string> {
  const text = (await readAll(res.body, 64 << 10).catch(() => Buffer.alloc(0))).toString('utf8');
  try {
    const doc = JSON.parse(text) as { errors?: { code?: string; message?: string }[] };
    const first = doc.errors?.[0];
    if (first) return `${first.code ?? res.status}: ${first.message ?? ''}`.trim();
  } catch {
    // not JSON
  }
  return `HTTP ${res.status}`;
}
