// A private redis-server (Debian's) for `npm start` and for the tests: data and AOF in its own
// directory, reachable only through a unix socket there (no TCP port, so nothing off this host
// and no port to collide with another instance). Stopped with SHUTDOWN semantics (SIGTERM), so
// the AOF is complete.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';

export interface PrivateRedis {
  /** unix:///…/redis.sock, for queue-client/connection.ts. */
  url: string;
  socket: string;
  pid: number;
  /** Graceful stop: SIGTERM, which makes redis fsync the AOF and exit; SIGKILL after 10 s. */
  stop(): Promise<void>;
}

export interface PrivateRedisOptions {
  dir: string;
  /** Append-only file on (the product); tests may turn it off for speed. */
  appendOnly?: boolean;
  /** Stop a server a previous run left behind in `dir` (its pid file). Default true. */
  replaceStale?: boolean;
  readyTimeoutMs?: number;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function isRedis(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').startsWith('redis-server');
  } catch {
    return false;
  }
}

async function waitGone(pid: number, ms: number): Promise<boolean> {
  const until = Date.now() + ms;
  while (alive(pid)) {
    if (Date.now() > until) return false;
    await sleep(25);
  }
  return true;
}

/** A redis-server left running by a `npm start` that was killed: stopped so we own the next. */
async function stopStale(pidFile: string): Promise<void> {
  if (!existsSync(pidFile)) return;
  const pid = Number(readFileSync(pidFile, 'utf8').trim());
  if (!Number.isInteger(pid) || pid <= 1 || !alive(pid) || !isRedis(pid)) return;
  process.kill(pid, 'SIGTERM');
  if (!(await waitGone(pid, 10_000))) process.kill(pid, 'SIGKILL');
}

async function waitReady(socket: string, child: ChildProcess, timeoutMs: number, log: () => string): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`redis-server exited at start-up:\n${log()}`);
    if (existsSync(socket)) {
      const probe = new Redis({ path: socket, lazyConnect: true, maxRetriesPerRequest: 0, enableOfflineQueue: false, retryStrategy: () => null });
      // A refused connect also comes as an 'error' event: heard here, or ioredis prints it as unhandled.
      probe.on('error', () => undefined);
      try {
        await probe.connect();
        // While loading a large AOF, redis answers LOADING; wait for a real PONG.
        if ((await probe.ping()) === 'PONG') return;
      } catch {
        /* not yet */
      } finally {
        probe.disconnect();
      }
    }
    if (Date.now() > until) throw new Error(`redis-server did not become ready in ${timeoutMs} ms:\n${log()}`);
    await sleep(20);
  }
}

export async function startPrivateRedis(options: PrivateRedisOptions): Promise<PrivateRedis> {
  const { dir } = options;
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const socket = join(dir, 'redis.sock');
  const pidFile = join(dir, 'redis.pid');
  if (options.replaceStale ?? true) await stopStale(pidFile);
  rmSync(socket, { force: true });

  const args = [
    '--dir', dir,
    '--port', '0', // no TCP at all: the socket below is the only way in
    '--unixsocket', socket,
    '--unixsocketperm', '700',
    '--pidfile', pidFile,
    '--appendonly', options.appendOnly === false ? 'no' : 'yes',
    '--appendfsync', 'everysec',
    '--save', '',
    // BullMQ's requirement: evicting a job's keys would corrupt its queues.
    '--maxmemory-policy', 'noeviction',
    '--daemonize', 'no',
    '--logfile', '',
  ];
  // Its own process group: a Ctrl-C in the terminal must not stop Redis before the worker has
  // put its unfinished jobs back (that needs Redis); the owner stops it last, with stop().
  // --pdeathsig: an owner that dies without stopping it (a SIGKILLed `npm start` or test run)
  // still ends it, with SIGTERM, which Redis takes as a clean shutdown (the AOF is flushed).
  const child = spawn('setpriv', ['--pdeathsig', 'TERM', '--', 'redis-server', ...args], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let output = '';
  const keep = (b: Buffer) => (output = (output + b.toString()).slice(-8192));
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const spawned = new Promise<void>((resolve, reject) => {
    child.once('spawn', resolve);
    child.once('error', reject);
  });
  await spawned;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    await waitReady(socket, child, options.readyTimeoutMs ?? 30_000, () => output);
  } catch (err) {
    child.kill('SIGKILL');
    await exited;
    throw err;
  }
  let stopping: Promise<void> | null = null;
  return {
    url: `unix://${socket}`,
    socket,
    pid: child.pid!,
    stop() {
      stopping ??= (async () => {
        if (child.exitCode === null && child.signalCode === null) {
          child.kill('SIGTERM');
          const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
          await exited;
          clearTimeout(killer);
        }
      })();
      return stopping;
    },
  };
}
