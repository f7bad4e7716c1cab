// The host's caching proxy: Debian's squid, one per host, shared by every session. It caches
// plain-HTTP archives (apt, Alpine) on disk with a size bound, tunnels HTTPS (npm, PyPI, Go)
// with CONNECT to port 443, and applies the allow-list a second time behind the session relay.
// It listens on loopback only; containers never reach it directly (see relay.ts, forwarder.ts).
//
// One squid per directory, shared by the host's processes that need it: the worker for as long
// as it runs, a `layercake build` or `run` for its verb. Each holds a lease in `users/`
// (../leases/process-lease.ts); the first starts squid (detached: it belongs to no one process)
// and publishes its port in `serving.json`, the others use it, and the last to let go stops it.
// So the command line uses the worker's squid when the worker runs, and one of its own, for the
// verb, when it does not; either way one cache on disk. Starts and stops take `start.lock`.
import { spawn, execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { chmod, chown, mkdir, open, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { connect, createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { isLive, liveLeases, lock, processTag, takeLease } from '../leases/process-lease.js';

// Promisified at each call: reading execFile at import would load child_process (and net) into
// every command that imports egress/, a cached rebuild's too, which starts no squid.
const execFileP = (file: string, args: string[], options: { timeout?: number } = {}): Promise<{ stdout: string; stderr: string }> =>
  promisify(execFile)(file, args, { ...options, encoding: 'utf8' });

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

async function waitForPort(port: number, exited: () => string | null, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    const status = exited();
    if (status !== null) throw new Error(`squid exited (${status}) while starting`);
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

/**
 * squid runs as `proxy`, so every directory above its own must let others pass. A data dir made
 * 0700 (by a `mkdir -p` with that mode, run before anything else made it) kept squid from its
 * files, and RUN steps had no network. Each such directory of ours gets search permission for
 * others (o+x: passing through, not listing); one that is not ours is an error naming it.
 */
async function letProxyPass(dir: string): Promise<void> {
  for (let d = dirname(dir); ; d = dirname(d)) {
    const s = await stat(d);
    if ((s.mode & 0o001) === 0) {
      if (s.uid !== process.getuid?.()) throw new Error(`squid (user proxy) cannot reach ${dir}: others may not pass through ${d}`);
      await chmod(d, (s.mode & 0o7777) | 0o001);
    }
    if (d === dirname(d)) return;
  }
}

/** What a started squid publishes for the host's other processes. */
interface Serving {
  port: number;
  /** squid's process, as processTag() tells it. */
  tag: string;
  /** Its config but the port: a user with other settings (allow-list, cache size) restarts it when it is alone. */
  settings: string;
}

/** Whether the process is alive (a zombie is not: it only waits to be reaped). */
function running(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

export class Squid {
  private releaseLease: (() => Promise<void>) | null = null;
  port = 0;

  constructor(private readonly o: SquidOptions) {}

  get accessLog(): string {
    return join(this.o.dir, 'access.log');
  }

  private get servingFile(): string {
    return join(this.o.dir, 'serving.json');
  }

  /** Uses the squid serving this directory, starting it when none does. */
  async start(): Promise<void> {
    if (this.releaseLease) return;
    await mkdir(this.o.dir, { recursive: true });
    const unlock = await lock(join(this.o.dir, 'start.lock'));
    try {
      this.releaseLease = await takeLease(join(this.o.dir, 'users'), 'user');
      const settings = config(this.o, 0);
      const serving = await this.serving();
      // Another user's squid with other settings is used as it is; alone, this one restarts it.
      const others = ((await liveLeases(join(this.o.dir, 'users'))).get('user') ?? 0) - 1;
      if (serving && (serving.settings === settings || others > 0)) {
        this.port = serving.port;
        return;
      }
      if (serving) await this.kill(serving);
      await this.spawn(settings);
    } catch (err) {
      await this.releaseLease?.();
      this.releaseLease = null;
      throw err;
    } finally {
      await unlock();
    }
  }

  /** Lets go of it; the last user of the host stops it. */
  async stop(): Promise<void> {
    const release = this.releaseLease;
    if (!release) return;
    this.releaseLease = null;
    const unlock = await lock(join(this.o.dir, 'start.lock'));
    try {
      await release();
      if (((await liveLeases(join(this.o.dir, 'users'))).get('user') ?? 0) > 0) return;
      const serving = await this.serving();
      if (serving) await this.kill(serving);
    } finally {
      await unlock();
    }
  }

  private async serving(): Promise<Serving | null> {
    try {
      const serving = JSON.parse(await readFile(this.servingFile, 'utf8')) as Serving;
      return isLive(serving.tag) && running(Number(serving.tag.split('-')[0])) ? serving : null;
    } catch {
      return null;
    }
  }

  private async kill(serving: Serving): Promise<void> {
    const pid = Number(serving.tag.split('-')[0]);
    const signal = (sig: NodeJS.Signals): void => {
      try {
        process.kill(pid, sig);
      } catch {
        // gone already
      }
    };
    signal('SIGTERM');
    for (let waited = 0; isLive(serving.tag) && running(pid); waited += 50) {
      if (waited === 5_000) signal('SIGKILL');
      await new Promise((r) => setTimeout(r, 50));
    }
    await rm(this.servingFile, { force: true });
  }

  private async spawn(settings: string): Promise<void> {
    const binary = this.o.binary ?? '/usr/sbin/squid';
    await mkdir(join(this.o.dir, 'cache'), { recursive: true });
    const { uid, gid } = await proxyIds();
    await letProxyPass(this.o.dir);
    await chown(this.o.dir, uid, gid);
    await chown(join(this.o.dir, 'cache'), uid, gid);
    const port = await freePort();
    const conf = join(this.o.dir, 'squid.conf');
    await writeFile(conf, config(this.o, port));
    // Creates the cache's directory levels where missing (quick when they exist).
    await execFileP(binary, ['-N', '-z', '-f', conf], { timeout: 60_000 });
    // Detached: it serves the host's processes, not only this one (see the header). Its stderr
    // goes to a file: a pipe would break (SIGPIPE) once the process that read it is gone.
    const stderrFile = join(this.o.dir, 'squid.stderr');
    const out = await open(stderrFile, 'w');
    const child = spawn(binary, ['-N', '-f', conf], { stdio: ['ignore', 'ignore', out.fd], detached: true });
    await out.close();
    let exited: string | null = null;
    child.once('exit', (code, sig) => (exited = sig ?? String(code)));
    try {
      if (child.pid === undefined) throw new Error('squid could not be spawned');
      await waitForPort(port, () => exited, 30_000);
    } catch (err) {
      child.kill('SIGKILL');
      const stderr = await readFile(stderrFile, 'utf8').catch(() => '');
      throw new Error(`${(err as Error).message}: ${stderr.slice(-4000).trim()}`);
    }
    child.unref();
    const serving: Serving = { port, tag: processTag(child.pid!), settings };
    await writeFile(this.servingFile, JSON.stringify(serving));
    this.port = port;
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
