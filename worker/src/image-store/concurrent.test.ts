import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { mapConcurrent } from './concurrent.js';

describe('mapConcurrent', () => {
  it('keeps the order of its items and never has more than the limit in flight', async () => {
    let inFlight = 0;
    let most = 0;
    const out = await mapConcurrent([30, 5, 20, 1, 10, 2, 15], 3, async (ms) => {
      most = Math.max(most, ++inFlight);
      await sleep(ms);
      inFlight--;
      return ms * 2;
    });
    expect(out).toEqual([60, 10, 40, 2, 20, 4, 30]);
    expect(most).toBe(3);
  });

  it('fails with the first failure, and maps nothing at all without items', async () => {
    await expect(mapConcurrent([1, 2, 3], 2, async (n) => (n === 2 ? Promise.reject(new Error('two')) : n))).rejects.toThrow('two');
    expect(await mapConcurrent([], 4, async () => 1)).toEqual([]);
  });
});
