// `npm start`'s Ctrl-C stops everything it started, also when it comes before the product is
// ready (a first start on a new machine builds its base images for minutes: the moment a learner
// is most likely to give up and press Ctrl-C). The worker and the app run in process groups of
// their own, so the terminal's signal reaches start.ts alone; it used to know them only once both
// were ready, and a Ctrl-C before that stopped Redis and left the two running, orphaned.
// Real start.ts, real Redis, worker and app.
import { spawn } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, expect, it } from 'vitest';
import { processAlive as alive } from '../worker/src/image-store/paths.js';

const root = join(new URL('.', import.meta.url).pathname, '..');
const dirs: string[] = [];
afterAll(() => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

/** The processes whose parent is `pid`, with their command lines. */
function childrenOf(pid: number): { pid: number; cmd: string }[] {
  const out: { pid: number; cmd: string }[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const status = readFileSync(`/proc/${name}/status`, 'utf8');
      if (Number(/PPid:\s+(\d+)/.exec(status)?.[1]) !== pid) continue;
      out.push({ pid: Number(name), cmd: readFileSync(`/proc/${name}/cmdline`, 'utf8').replaceAll('\0', ' ') });
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

async function startProduct(extra: NodeJS.ProcessEnv) {
  const dir = await mkdtemp(join(tmpdir(), 'lc-start-'));
  dirs.push(dir);
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    LAYERCAKE_DATA: join(dir, 'engine'),
    LAYERCAKE_REDIS_DIR: join(dir, 'redis'),
    LAYERCAKE_REDIS_PREFIX: `start-test-${process.pid}`,
    LAYERCAKE_HOST_ID: `start-test-${process.pid}`,
    LAYERCAKE_BASE_IMAGES: 'busybox',
    LAYERCAKE_EGRESS: 'off',
    LAYERCAKE_ID_RANGE_BASE: '2130000000',
    PORT: '0',
    TERMINAL_PORT: '0',
    ...extra,
  };
  delete env.REDIS_URL;
  const start = spawn(process.execPath, ['--import', 'tsx', 'scripts/start.ts'], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  start.stdout.on('data', (d: Buffer) => (output += d.toString()));
  start.stderr.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<number | null>((r) => start.on('exit', (code) => r(code)));
  return { dir, start, exited, output: () => output };
}

it('a Ctrl-C during the start stops the worker, the app and Redis, and start exits 0', async () => {
  const { start, exited, output } = await startProduct({});

  // Wait for Redis, the worker and the app to be started, then press Ctrl-C before they are ready.
  let started: { pid: number; cmd: string }[] = [];
  for (let i = 0; i < 600; i++) {
    started = childrenOf(start.pid!);
    if (['worker/src/main.ts', 'app/server/main.ts', 'redis-server'].every((p) => started.some((c) => c.cmd.includes(p)))) break;
    await sleep(50);
  }
  expect(started.filter((c) => /worker\/src\/main\.ts|app\/server\/main\.ts|redis-server/.test(c.cmd))).toHaveLength(3);
  expect(output()).not.toContain('is ready at');
  start.kill('SIGINT');

  expect(await exited).toBe(0);
  for (let i = 0; i < 100 && started.some((c) => alive(c.pid)); i++) await sleep(100);
  expect(started.filter((c) => alive(c.pid)).map((c) => c.cmd)).toEqual([]);
}, 120_000);

it('a worker stopped while it starts takes its package-archive proxy with it', async () => {
  // squid runs as a process of its own: a worker killed by the signal's default action left it.
  const { dir, start, exited, output } = await startProduct({ LAYERCAKE_EGRESS: 'on' });
  const squidOf = () => readdirSync('/proc').filter((p) => /^\d+$/.test(p)).filter((p) => {
    try {
      const cmd = readFileSync(`/proc/${p}/cmdline`, 'utf8');
      return cmd.includes(`${dir}/`) && cmd.includes('squid');
    } catch {
      return false;
    }
  });
  for (let i = 0; i < 1500 && squidOf().length === 0; i++) await sleep(20);
  expect(squidOf().length).toBeGreaterThan(0);
  start.kill('SIGINT');
  expect(await exited).toBe(0);
  expect(output()).toContain('stopped while starting');
  for (let i = 0; i < 100 && squidOf().length > 0; i++) await sleep(100);
  expect(squidOf()).toEqual([]);
}, 120_000);
