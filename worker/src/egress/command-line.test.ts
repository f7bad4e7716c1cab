// The command line's own `layercake build` and `layercake run` reach package archives as the
// worker's builds and containers do: through the host's squid (the worker's when it runs, else
// one started for the verb and stopped when it ends) and relays of the verb's own process. Real
// parts: the `layercake` binary as a learner's shell runs it, Debian's squid, the launcher,
// busybox's wget, Debian's archive (skipped, saying why, when deb.debian.org is unreachable).
import { readFileSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { enginePaths } from '../config.js';
import { processesMentioning } from '../containers/test-support/harness.js';
import { spawnCli, type Result } from '../cli/test-support/spawn-cli.js';
import { EgressService } from './index.js';
import { reachable } from './test-support/reachable.js';

const online = await reachable('deb.debian.org');
if (!online) console.warn('command line egress tests skipped: deb.debian.org is not reachable from this host');

const URL = 'http://deb.debian.org/debian/dists/bookworm/Release';

describe.skipIf(!online)('the command line’s way out to package archives', () => {
  let work: string;
  let dataDir: string;
  let context: string;
  let squidDir: string;

  function cli(args: readonly string[], env: Record<string, string> = {}): Promise<Result> {
    return spawnCli(args, {
      cwd: work,
      env: { ...process.env, LAYERCAKE_DATA: dataDir, LAYERCAKE_ID_RANGE_BASE: '2170000000', LANG: 'C.UTF-8', ...env },
    });
  }

  // The squids running on this directory: only the first process of each, as squid forks
  // helpers that show its command line until they exec (a CI run caught one such child).
  const squids = (): number[] => {
    const pids = processesMentioning(squidDir);
    const parent = (pid: number): number | null => {
      try {
        return Number(/^\d+ \(.*\) \S (\d+)/s.exec(readFileSync(`/proc/${pid}/stat`, 'utf8'))?.[1]);
      } catch {
        return null; // exited while we looked
      }
    };
    return pids.filter((pid) => {
      const ppid = parent(pid);
      return ppid !== null && !pids.includes(ppid);
    });
  };

  beforeAll(async () => {
    work = await mkdtemp('/tmp/lc-cli-egress-');
    await chmod(work, 0o755); // squid runs as `proxy`: its directory's parents must let it in
    dataDir = join(work, 'data');
    // The engine makes a data root of its own 0700 (its launcher state): this one is made first.
    await mkdir(dataDir, { mode: 0o755 });
    squidDir = join(dataDir, 'egress', 'squid');
    context = join(work, 'context');
    await mkdir(context);
    await writeFile(join(context, 'Dockerfile'), `FROM busybox\nRUN wget -q -O /dev/null ${URL} && echo fetched-$((6*7))\n`);
  });

  afterAll(async () => {
    expect(squids()).toEqual([]);
    expect(processesMentioning(join(dataDir, 'egress', 'sessions'))).toEqual([]); // no door left
    await rm(work, { recursive: true, force: true });
  });

  it('layercake build: a RUN step fetches through the package proxy, and squid ends with the verb', async () => {
    const built = await cli(['build', '--no-cache', '-t', 'fetched', context]);
    expect(built.code, built.stderr).toBe(0);
    expect(built.stdout).toContain('fetched-42');
    expect(built.stdout).toContain('Successfully tagged fetched:latest');
    // Through squid (its log has the request), which the verb started and stopped.
    expect(await readFile(join(squidDir, 'access.log'), 'utf8')).toContain('deb.debian.org/debian/dists/bookworm/Release');
    expect(squids()).toEqual([]);
    // Counted for the session, in its records, as the worker counts its builds.
    const record = await readFile(join(enginePaths(dataDir).sessions, 'local', 'egress-usage.log'), 'utf8');
    expect(record).toContain('deb.debian.org');
    // The control: the same build with the operator's egress off has loopback only.
    const offline = await cli(['build', '--no-cache', context], { LAYERCAKE_EGRESS: 'off' });
    expect(offline.code).not.toBe(0);
    expect(offline.stdout).not.toContain('fetched-42');
  }, 240_000);

  it('layercake run: a foreground container fetches through it; with egress off it cannot', async () => {
    const run = await cli(['run', '--rm', 'busybox', 'sh', '-c', `wget -q -O /dev/null ${URL} && echo fetched-$((6*7))`]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain('fetched-42');
    expect(squids()).toEqual([]);
    const offline = await cli(['run', '--rm', 'busybox', 'sh', '-c', `wget -q -O /dev/null ${URL} && echo fetched-$((6*7))`], { LAYERCAKE_EGRESS: 'off' });
    expect(offline.code).not.toBe(0);
    expect(offline.stdout).not.toContain('fetched-42');
  }, 120_000);

  it('uses the worker’s squid when the worker runs, and leaves it running', async () => {
    // The worker's service on the same data root (as main.ts makes it).
    const worker = new EgressService({ dir: join(dataDir, 'egress'), sessionsDir: enginePaths(dataDir).sessions, cacheBytes: 64 * 2 ** 20 });
    await worker.start();
    try {
      const before = squids();
      expect(before).toHaveLength(1);
      const built = await cli(['build', '--no-cache', context]);
      expect(built.code, built.stderr).toBe(0);
      expect(built.stdout).toContain('fetched-42');
      // The same squid served it, and still serves the worker.
      expect(squids()).toEqual(before);
    } finally {
      await worker.stop();
    }
    expect(squids()).toEqual([]);
  }, 240_000);
});
