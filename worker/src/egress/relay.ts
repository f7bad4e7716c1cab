// One session's way out: a unix socket the in-container forwarders connect to. Each connection's
// first request line names where it goes (an absolute http:// URL or CONNECT host:443); a host
// off the allow-list is answered here with 403 and the learner's message and never reaches the
// proxy. Bytes and connected time are counted for the whole session and cut off at its limits;
// with a record (usage-record.ts) the counts are the session's on disk, shared with the host's
// other relays of the session and kept across restarts.
import { mkdir, rm } from 'node:fs/promises';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { dirname } from 'node:path';
import { isAllowed } from './allow-list.js';
import { addUsage, emptyUsage, isEmpty, type UsageRecord } from './usage-record.js';

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

export interface RelayOptions {
  /** squid's port; asked for on the first connection let through (squid may start then). */
  upstream: () => Promise<number>;
  allow: readonly string[];
  limits: SessionLimits;
  refusal?: Refusal;
  /** The session's counts on disk; without one they live as long as this relay. */
  record?: UsageRecord;
}

export class SessionRelay {
  private server: Server | null = null;
  /** Connections let through to squid (they count as the session's time). */
  private readonly open = new Set<Socket>();
  /** Every connection, refused or not: close() ends them all (server.close waits for each). */
  private readonly clients = new Set<Socket>();
  private busySince = 0;
  /** The session's counts: the record's total at the last read, plus what is pending. */
  private used: Usage = emptyUsage();
  /** Counted here since the last line written to the record. */
  private pending: Usage = emptyUsage();
  /** What this relay refused (for the step's report; not part of the record). */
  private readonly refused: string[] = [];
  private flushing: Promise<void> | null = null;
  private timer: NodeJS.Timeout | null = null;
  private readonly refusal: Refusal;

  constructor(
    readonly socketPath: string,
    private readonly o: RelayOptions,
  ) {
    this.refusal = o.refusal ?? ARCHIVES_ONLY;
  }

  usage(): Usage {
    const ms = this.used.ms + (this.busySince ? Date.now() - this.busySince : 0);
    return { ...this.used, ms, hosts: { ...this.used.hosts }, refused: [...this.refused] };
  }

  async listen(): Promise<void> {
    if (this.o.record) {
      await this.o.record.changed();
      this.used = this.judged(await this.o.record.read());
    }
    await mkdir(dirname(this.socketPath), { recursive: true, mode: 0o700 });
    await rm(this.socketPath, { force: true });
    const server = createServer((c) => this.accept(c));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.socketPath, () => resolve());
    });
    this.timer = setInterval(() => {
      this.checkTime();
      void this.flush().catch(() => undefined);
    }, 500);
    this.timer.unref();
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    for (const s of this.clients) s.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
    this.foldBusyTime();
    await this.flush();
  }

  /**
   * Writes what was counted since the last line to the record, and reads the session's total
   * again (other processes' relays add to it too). One flush at a time.
   */
  flush(): Promise<void> {
    const record = this.o.record;
    if (!record) return Promise.resolve();
    this.flushing ??= (async () => {
      try {
        // Time of connections still open counts too: a crash loses at most one tick of it.
        this.foldBusyTime();
        const delta = this.pending;
        if (isEmpty(delta) && !(await record.changed())) return;
        this.pending = emptyUsage();
        if (!isEmpty(delta)) await record.append(delta);
        await record.changed();
        // What arrived during the writes is pending still: the total is the file's plus it.
        const wasCut = this.used.limit;
        this.used = this.judged(addUsage(await record.read(), this.pending));
        // Another process's counts took the session past a limit: this relay's connections end too.
        if (this.used.limit && !wasCut) for (const s of this.open) s.destroy();
      } finally {
        this.flushing = null;
      }
    })();
    return this.flushing;
  }

  /**
   * A total read from the record, with its limit decided by this relay's limits: an operator who
   * raised them lets a session that was cut off go on; a session past them is cut off here too.
   */
  private judged(total: Usage): Usage {
    total.limit = total.bytes > this.o.limits.bytes ? 'bytes' : total.ms > this.o.limits.ms ? 'time' : null;
    return total;
  }

  private foldBusyTime(): void {
    if (!this.busySince) return;
    const now = Date.now();
    this.add({ ms: now - this.busySince });
    this.busySince = this.open.size > 0 ? now : 0;
  }

  /** Counts into the session's total and into what the next flush writes. */
  private add(o: { bytes?: number; ms?: number; host?: string; refused?: string; limit?: 'bytes' | 'time' }): void {
    if (o.refused !== undefined && this.refused.length < 20) this.refused.push(o.refused);
    for (const u of [this.used, this.pending]) {
      u.bytes += o.bytes ?? 0;
      u.ms += o.ms ?? 0;
      if (o.host !== undefined) u.hosts[o.host] = (u.hosts[o.host] ?? 0) + (o.bytes ?? 0);
      if (o.limit) u.limit ??= o.limit;
    }
  }

  private refuse(c: Socket, what: string, status = `403 ${this.refusal.reason}`): void {
    this.add({ refused: what });
    const body = Buffer.from(this.refusal.body);
    // Read on, discarding: a socket nobody reads never sees its client's FIN, and never closes.
    c.on('data', () => undefined);
    c.resume();
    c.end(Buffer.concat([Buffer.from(`HTTP/1.1 ${status}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`), body]));
  }

  private accept(c: Socket): void {
    this.clients.add(c);
    c.on('close', () => this.clients.delete(c));
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
      if (!target || !isAllowed(target.host, this.o.allow)) return this.refuse(c, target?.host ?? line.slice(0, 80));
      this.forward(c, head, target.host);
    };
    c.on('data', onData);
    c.setTimeout(30_000, () => c.destroy()); // a client that never says where it goes
  }

  private forward(c: Socket, head: Buffer, host: string): void {
    c.setTimeout(0);
    this.track(c);
    this.o.upstream().then(
      (port) => (c.destroyed ? undefined : this.join(c, connect(port, '127.0.0.1'), head, host)),
      () => c.destroy(),
    );
  }

  private join(c: Socket, up: Socket, head: Buffer, host: string): void {
    const count = (n: number): void => {
      this.add({ bytes: n, host });
      if (this.used.bytes > this.o.limits.bytes) this.cut('bytes');
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
      if (this.open.size === 0 && this.busySince) this.foldBusyTime();
    });
  }

  private checkTime(): void {
    if (this.usage().ms > this.o.limits.ms) this.cut('time');
  }

  private cut(limit: 'bytes' | 'time'): void {
    if (this.used.limit) return;
    this.add({ limit });
    for (const s of this.open) s.destroy();
  }
}
