// The private Redis never outlives its owner: `npm start` or a test run that is SIGKILLed (no
// chance to call stop()) left its redis-server running, one per killed run (seven were found on
// the development VM). Real redis-server, real SIGKILL.
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';

const here = new URL('.', import.meta.url).pathname;
const dirs: string[] = [];
afterAll(async () => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** A node process that starts a Redis the given way, prints its pid, then waits to be killed. */
async function ownerOf(script: string): Promise<{ owner: ReturnType<typeof spawn>; redisPid: number }> {
  const dir = await mkdtemp(join(tmpdir(), 'lc-redis-owner-'));
  dirs.push(dir);
  const owner = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script.replaceAll('DIR', JSON.stringify(dir))], { cwd: join(here, '..'), stdio: ['ignore', 'pipe', 'inherit'] });
  const line = await new Promise<string>((resolve) => createInterface({ input: owner.stdout! }).once('line', resolve));
  return { owner, redisPid: Number(line) };
}

async function gone(pid: number, ms: number): Promise<boolean> {
  for (const end = Date.now() + ms; Date.now() < end; await sleep(50)) if (!alive(pid)) return true;
  return !alive(pid);
}

describe('the private redis-server dies with its owner', () => {
  it('a SIGKILLed owner takes its Redis with it', async () => {
    const { owner, redisPid } = await ownerOf(`
      import { startPrivateRedis } from './scripts/redis.ts';
      const redis = await startPrivateRedis({ dir: DIR });
      console.log(redis.pid);
      setInterval(() => {}, 1000);`);
    expect(alive(redisPid)).toBe(true);
    owner.kill('SIGKILL');
    const ended = await gone(redisPid, 10_000);
    if (!ended) process.kill(redisPid, 'SIGKILL');
    expect(ended).toBe(true);
  }, 40_000);

  it('control: spawned as before (its own group, no death signal), it outlives the owner', async () => {
    const { owner, redisPid } = await ownerOf(`
      import { spawn } from 'node:child_process';
      const child = spawn('redis-server', ['--port', '0', '--unixsocket', DIR + '/s.sock', '--dir', DIR, '--save', ''], { stdio: 'ignore', detached: true });
      child.once('spawn', () => console.log(child.pid));
      setInterval(() => {}, 1000);`);
    owner.kill('SIGKILL');
    expect(await gone(redisPid, 2_000)).toBe(false);
    process.kill(redisPid, 'SIGKILL');
  }, 40_000);
});
