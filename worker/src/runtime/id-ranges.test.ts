import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { IdRangeAllocator, IdRangesExhaustedError, processStartTime } from './id-ranges.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'layercake-id-ranges-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

const allocator = (maxRanges = 16) => new IdRangeAllocator({ dir, baseId: 200_000, size: 65536, maxRanges });

/** The pid of a process that has exited (and been reaped), so it is certainly dead. */
function deadPid(): number {
  const child = spawnSync('sh', ['-c', 'echo $$'], { encoding: 'utf8' });
  return Number(child.stdout.trim());
}

describe('id ranges', () => {
  test('containers get distinct, non-overlapping ranges starting at the base', () => {
    const ranges = allocator();
    const a = ranges.allocate('a');
    const b = ranges.allocate('b');
    expect(a.hostId).toBe(200_000);
    expect(b.hostId).toBe(200_000 + 65536);
    expect(a.hostId + a.size).toBeLessThanOrEqual(b.hostId);
  });

  test('a released range is handed out again', () => {
    const ranges = allocator();
    const a = ranges.allocate('a');
    ranges.allocate('b');
    ranges.release(a);
    expect(ranges.allocate('c').hostId).toBe(a.hostId);
  });

  test('releasing by container id frees that container’s range only', () => {
    const ranges = allocator();
    ranges.allocate('a');
    const b = ranges.allocate('b');
    expect(ranges.releaseContainer('a')).toBe(true);
    expect(ranges.releaseContainer('a')).toBe(false);
    expect(ranges.leases().map((l) => l.containerId)).toEqual(['b']);
    expect(ranges.leases()[0]?.hostId).toBe(b.hostId);
  });

  test('a range whose owner process is dead is reclaimed', () => {
    const ranges = allocator();
    const orphan = ranges.allocate('orphan', deadPid());
    expect(ranges.leases()[0]).toMatchObject({ containerId: 'orphan', alive: false });
    const next = ranges.allocate('next');
    expect(next.hostId).toBe(orphan.hostId);
    expect(ranges.leases().map((l) => l.containerId)).toEqual(['next']);
  });

  test('a live pid with a different start time (pid reused) does not hold the range', () => {
    const ranges = allocator();
    // Our own pid, but recorded as started at another time: the owner was an earlier
    // process that had this pid.
    writeFileSync(
      join(dir, '0.lock'),
      JSON.stringify({ containerId: 'old', pid: process.pid, pidStartTime: '1', nonce: 'n', hostId: 200_000, size: 65536 }),
    );
    expect(processStartTime(process.pid)).not.toBe('1');
    expect(ranges.allocate('new').hostId).toBe(200_000);
  });

  test('a range held by a live process is not reclaimed', () => {
    const ranges = allocator();
    const held = ranges.allocate('held', process.pid);
    expect(ranges.allocate('other').hostId).not.toBe(held.hostId);
  });

  test('a stale release does not remove the lock of the range’s next holder', () => {
    const ranges = allocator();
    const first = ranges.allocate('first', deadPid());
    const second = ranges.allocate('second'); // reclaims first's range
    expect(second.hostId).toBe(first.hostId);
    ranges.release(first);
    expect(ranges.leases().map((l) => l.containerId)).toEqual(['second']);
  });

  test('when every range is taken, allocation fails with a clear error', () => {
    const ranges = allocator(2);
    ranges.allocate('a');
    ranges.allocate('b');
    expect(() => ranges.allocate('c')).toThrow(IdRangesExhaustedError);
  });

  test('host id 0 and the host’s own users can never be handed out', () => {
    expect(() => new IdRangeAllocator({ dir, baseId: 0 })).toThrow(RangeError);
    expect(() => new IdRangeAllocator({ dir, baseId: 1000 })).toThrow(RangeError);
    expect(() => new IdRangeAllocator({ dir, baseId: 2 ** 32 - 65536, maxRanges: 2 })).toThrow(RangeError);
  });

  test('processes allocating at the same time never get the same range', async () => {
    const moduleUrl = new URL('./id-ranges.ts', import.meta.url).href;
    // Each worker holds its ranges until its stdin closes: a worker that had already exited
    // would (rightly) have its ranges reclaimed by the others.
    const script = `
      import { IdRangeAllocator } from ${JSON.stringify(moduleUrl)};
      const ranges = new IdRangeAllocator({ dir: ${JSON.stringify(dir)}, baseId: 200000, size: 65536, maxRanges: 64 });
      const got = [];
      for (let i = 0; i < 5; i++) got.push(ranges.allocate('p' + process.pid + '-' + i).hostId);
      console.log(JSON.stringify(got));
      process.stdin.resume();
      process.stdin.on('end', () => process.exit(0));
    `;
    const children = Array.from({ length: 8 }, () =>
      spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['pipe', 'pipe', 'inherit'] }),
    );
    try {
      const all = (
        await Promise.all(
          children.map(
            (child) =>
              new Promise<number[]>((resolve, reject) => {
                let out = '';
                child.stdout.on('data', (d: Buffer) => {
                  out += d.toString();
                  if (out.endsWith('\n')) resolve(JSON.parse(out) as number[]);
                });
                child.on('exit', (code) => reject(new Error(`worker exited ${code} before allocating`)));
              }),
          ),
        )
      ).flat();
      expect(all).toHaveLength(40);
      expect(new Set(all).size).toBe(40);
      const ranges = new IdRangeAllocator({ dir, baseId: 200_000, size: 65536, maxRanges: 64 });
      expect(ranges.leases().filter((l) => l.alive)).toHaveLength(40);
      // No temporary files are left beside the locks.
      expect(readdirSync(dir).every((n) => /^\d+\.lock$/.test(n))).toBe(true);
    } finally {
      await Promise.all(
        children.map((child) =>
          child.exitCode !== null || child.signalCode !== null
            ? undefined
            : new Promise((resolve) => {
                child.once('close', resolve);
                child.stdin.end();
              }),
        ),
      );
    }
  });
});
