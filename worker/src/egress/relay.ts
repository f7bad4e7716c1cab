// One session's way out: a unix socket the in-container forwarders connect to. Each connection's
// first request line names where it goes (an absolute http:// URL or CONNECT host:443); a host
// off the allow-list is answered here with 403 and the learner's message and never reaches the
// proxy. Bytes and connected time are counted for the whole session and cut off at its limits.
import { mkdir, rm } from 'node:fs/promises';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { dirname } from 'node:path';
import { isAllowed } from './allow-list.js';

export interface SessionLimits {
  /** Bytes both ways over every connection of the session. */
  bytes: number;
  /** Wall-clock time with at least one connection open. */
  ms: number;
}

export interface Usage {
  bytes: number;
  ms: number;
  /** Bytes per host reached. */
  hosts: Record<string, number>;
  /** Hosts (or targets) refused, in order, at most 20. */
  refused: string[];
  /** Set once a limit cut the session off. */
  limit: 'bytes' | 'time' | null;
}

/** What a refused client reads: the status line's reason (apt prints it) and the body (curl, npm). */
export interface Refusal {
  reason: string;
  body: string;
}

/** The body of every refusal; what the learner reads in curl's or npm's output. */
export const REFUSAL_TEXT =
  'this playground reaches package archives only (Debian, Ubuntu, npm, PyPI, Go modules, Alpine).\n' +
  '이 실습 환경은 패키지 저장소에만 연결할 수 있습니다 (Debian, Ubuntu, npm, PyPI, Go 모듈, Alpine).\n';

export const ARCHIVES_ONLY: Refusal = { reason: 'this playground reaches package archives only', body: REFUSAL_TEXT };

/** For a container its session does not let out (the relay's allow-list is then empty). */
export const CONTAINER_CLOSED: Refusal = {
  reason: 'containers of this session do not reach package archives; install packages in a RUN step of a Dockerfile',
  body:
    "containers of this session do not reach package archives (the playground's setting); install packages in a RUN step of a Dockerfile.\n" +
    '이 세션의 컨테이너는 패키지 저장소에 연결할 수 없어요(실습 환경 설정). 패키지는 Dockerfile의 RUN 단계에서 설치하세요.\n',
};

const FIRST_LINE_MAX = 8192;

/** The host a proxy request goes to, or null when it is not one (origin-form, garbage). */
export function targetHost(requestLine: string): { host: string; port: number } | null {
  const m = /^([A-Z]+) (\S+) HTTP\/1\.[01]$/.exec(requestLine);
  if (!m) return null;
  if (m[1] === 'CONNECT') {
    const c = /^([^:/\s]+):(\d{1,5})$/.exec(m[2]!);
    return c ? { host: c[1]!.toLowerCase(), port: Number(c[2]) } : null;
  }
  try {
    const u = new URL(m[2]!);
    if (u.protocol !== 'http:') return null;
    return { host: u.hostname.toLowerCase(), port: u.port ? Number(u.port) : 80 };
  } catch {
    return null;
  }
}

export class SessionRelay {
  private server: Server | null = null;
  private readonly open = new Set<Socket>();
  private busySince = 0;
  private readonly used: Usage = { bytes: 0, ms: 0, hosts: {}, refused: [], limit: null };
  private timer: NodeJS.Timeout | null = null;

  constructor(
    readonly socketPath: string,
    private readonly proxyPort: number,
    private readonly allow: readonly string[],
    private readonly limits: SessionLimits,
    private readonly refusal: Refusal = ARCHIVES_ONLY,
  ) {}

  usage(): Usage {
    const ms = this.used.ms + (this.busySince ? Date.now() - this.busySince : 0);
    return { ...this.used, ms, hosts: { ...this.used.hosts }, refused: [...this.used.refused] };
  }

  async listen(): Promise<void> {
    await mkdir(dirname(this.socketPath), { recursive: true, mode: 0o700 });
    await rm(this.socketPath, { force: true });
    const server = createServer((c) => this.accept(c));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.socketPath, () => resolve());
    });
    this.timer = setInterval(() => this.checkTime(), 500);
    this.timer.unref();
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    for (const s of this.open) s.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  private refuse(c: Socket, what: string, status = `403 ${this.refusal.reason}`): void {
    if (this.used.refused.length < 20) this.used.refused.push(what);
    const body = Buffer.from(this.refusal.body);
    c.end(Buffer.concat([Buffer.from(`HTTP/1.1 ${status}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`), body]));
  }

  private accept(c: Socket): void {
    c.on('error', () => c.destroy());
    if (this.used.limit) return this.refuse(c, `limit:${this.used.limit}`, '429 Too Many Requests');
    let head = Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      head = Buffer.concat([head, chunk]);
      const eol = head.indexOf('\r\n');
      if (eol < 0 && head.length < FIRST_LINE_MAX) return;
      c.off('data', onData);
      c.pause();
      const line = eol < 0 ? '' : head.subarray(0, eol).toString('latin1');
      const target = targetHost(line);
      if (!target || !isAllowed(target.host, this.allow)) return this.refuse(c, target?.host ?? line.slice(0, 80));
      this.forward(c, head, target.host);
    };
    c.on('data', onData);
    c.setTimeout(30_000, () => c.destroy()); // a client that never says where it goes
  }

  private forward(c: Socket, head: Buffer, host: string): void {
    c.setTimeout(0);
    const up = connect(this.proxyPort, '127.0.0.1');
    this.track(c);
    const count = (n: number): void => {
      this.used.bytes += n;
      this.used.hosts[host] = (this.used.hosts[host] ?? 0) + n;
      if (this.used.bytes > this.limits.bytes) this.cut('bytes');
    };
    up.on('data', (b: Buffer) => count(b.length));
    c.on('data', (b: Buffer) => count(b.length));
    up.on('error', () => c.destroy());
    up.on('close', () => c.destroy());
    c.on('close', () => up.destroy());
    up.write(head);
    count(head.length);
    c.pipe(up);
    up.pipe(c);
    c.resume();
  }

  private track(c: Socket): void {
    if (this.open.size === 0) this.busySince = Date.now();
    this.open.add(c);
    c.on('close', () => {
      this.open.delete(c);
      if (this.open.size === 0 && this.busySince) {
        this.used.ms += Date.now() - this.busySince;
        this.busySince = 0;
      }
    });
  }

  private checkTime(): void {
    if (this.usage().ms > this.limits.ms) this.cut('time');
  }

  private cut(limit: 'bytes' | 'time'): void {
    if (this.used.limit) return;
    this.used.limit = limit;
    for (const s of this.open) s.destroy();
  }
}
