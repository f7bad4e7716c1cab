// The host's caching proxy: Debian's squid, one per host, shared by every session. It caches
// plain-HTTP archives (apt, Alpine) on disk with a size bound, tunnels HTTPS (npm, PyPI, Go)
// with CONNECT to port 443, and applies the allow-list a second time behind the session relay.
// It listens on loopback only; containers never reach it directly (see relay.ts, forwarder.mjs).
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { chown, mkdir, readFile, writeFile } from 'node:fs/promises';
import { connect, createServer } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';

const execFileP = promisify(execFile);

export interface SquidOptions {
  /** Its config, logs and cache (owned by the `proxy` user squid runs as). */
  dir: string;
  allow: readonly string[];
  cacheBytes: number;
  binary?: string;
}

export interface CacheCounters {
  requests: number;
  /** Served from squid's cache (TCP_HIT, TCP_MEM_HIT, TCP_REFRESH_UNMODIFIED, …). */
  hits: number;
  denied: number;
}

function config(o: SquidOptions, port: number): string {
  const mb = Math.max(64, Math.floor(o.cacheBytes / 2 ** 20));
  // -n: an IP-literal URL is not reverse-resolved to pass as an allowed name.
  const domains = o.allow.map((e) => e).join(' ');
  return `# written by worker/src/egress/squid.ts; regenerated at every start
http_port 127.0.0.1:${port}
pid_filename ${join(o.dir, 'squid.pid')}
cache_effective_user proxy
cache_effective_group proxy
cache_dir ufs ${join(o.dir, 'cache')} ${mb} 16 256
cache_mem 32 MB
maximum_object_size 512 MB
cache_replacement_policy heap LFUDA
access_log stdio:${join(o.dir, 'access.log')} squid
cache_log ${join(o.dir, 'cache.log')}
cache_store_log none
netdb_filename none
coredump_dir ${o.dir}
logfile_rotate 0
shutdown_lifetime 1 seconds
via off
forwarded_for delete
httpd_suppress_version_string on
acl archives dstdomain -n ${domains}
acl tls_port port 443
acl web_ports port 80 443
acl CONNECT method CONNECT
http_access deny !web_ports
http_access deny CONNECT !tls_port
http_access allow archives
http_access deny all
# Packages never change under their name; indexes are revalidated.
refresh_pattern -i \\.(deb|udeb|apk|whl|tgz|tar\\.gz|tar\\.xz|zip)$ 129600 100% 129600 refresh-ims
refresh_pattern -i (Release|Packages(\\.gz|\\.xz)?|InRelease|APKINDEX\\.tar\\.gz)$ 0 20% 60 refresh-ims
refresh_pattern . 0 20% 4320
`;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

async function waitForPort(port: number, child: ChildProcess, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`squid exited (${child.exitCode}) while starting`);
    const ok = await new Promise<boolean>((resolve) => {
      const c = connect(port, '127.0.0.1', () => (c.destroy(), resolve(true)));
      c.on('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`squid did not listen on 127.0.0.1:${port} within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function proxyIds(): Promise<{ uid: number; gid: number }> {
  const [u, g] = await Promise.all([execFileP('id', ['-u', 'proxy']), execFileP('id', ['-g', 'proxy'])]);
  return { uid: Number(u.stdout.trim()), gid: Number(g.stdout.trim()) };
}

export class Squid {
  private child: ChildProcess | null = null;
  port = 0;

  constructor(private readonly o: SquidOptions) {}

  get accessLog(): string {
    return join(this.o.dir, 'access.log');
  }

  async start(): Promise<void> {
    const binary = this.o.binary ?? '/usr/sbin/squid';
    await mkdir(join(this.o.dir, 'cache'), { recursive: true });
    const { uid, gid } = await proxyIds();
    await chown(this.o.dir, uid, gid);
    await chown(join(this.o.dir, 'cache'), uid, gid);
    this.port = await freePort();
    const conf = join(this.o.dir, 'squid.conf');
    await writeFile(conf, config(this.o, this.port));
    // Creates the cache's directory levels where missing (quick when they exist).
    await execFileP(binary, ['-N', '-z', '-f', conf], { timeout: 60_000 });
    const child = spawn(binary, ['-N', '-f', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
    this.child = child;
    let stderr = '';
    child.stderr!.on('data', (b: Buffer) => (stderr = (stderr + b.toString()).slice(-4000)));
    try {
      await waitForPort(this.port, child, 30_000);
    } catch (err) {
      child.kill('SIGKILL');
      throw new Error(`${(err as Error).message}: ${stderr.trim()}`);
    }
  }

  async stop(): Promise<void> {
    const child = this.child;
    this.child = null;
    if (!child || child.exitCode !== null) return;
    const gone = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    await gone;
    clearTimeout(timer);
  }

  /** Counted from squid's access log (its "squid" format: the 4th field is CODE/STATUS). */
  async counters(): Promise<CacheCounters> {
    const text = await readFile(this.accessLog, 'utf8').catch(() => '');
    const c: CacheCounters = { requests: 0, hits: 0, denied: 0 };
    for (const line of text.split('\n')) {
      const code = line.split(/\s+/)[3];
      if (!code) continue;
      c.requests++;
      if (/^TCP_(MEM_|REFRESH_UNMODIFIED|IMS_|INM_)?HIT|^TCP_REFRESH_UNMODIFIED/.test(code)) c.hits++;
      if (code.startsWith('TCP_DENIED')) c.denied++;
    }
    return c;
  }
}
