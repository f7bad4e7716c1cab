// One source of limits: what a job may ask for (protocol/jobs.ts) is what the engine accepts
// (containers/container-limits.ts), both from protocol/limits.ts. Pure checks: no sandbox needed.
import { describe, expect, it } from 'vitest';
import { containerOpJob, runJob } from '../../protocol/jobs.js';
import { containerLimitBounds as protocolBounds } from '../../protocol/limits.js';
import { defaultContainerLimits } from './containers/index.js';
import { resolveLimits } from './containers/container-limits.js';
import { containerLimitBounds } from './limits.js';

const job = { sessionId: 's1', runId: 'r1', image: 'busybox' };
const asked = ['memoryBytes', 'pidsMax', 'cpus'] as const;
/** Just past each bound: one unit for counts and bytes; for CPUs half the least, and a hundredth more than the most. */
const pastBounds = (name: (typeof asked)[number], min: number, max: number) => (name === 'cpus' ? [min / 2, max + 0.01] : [min - 1, max + 1]);

describe('container limits have one source', () => {
  it('the engine checks the bounds the protocol publishes', () => {
    expect(containerLimitBounds).toBe(protocolBounds);
    expect(Object.isFrozen(protocolBounds) && Object.values(protocolBounds).every(Object.isFrozen)).toBe(true);
  });

  for (const name of asked) {
    it(`${name}: a run job beyond its bounds is refused by the schema, and by the engine with the same numbers`, () => {
      const { min, max } = protocolBounds[name];
      for (const ok of [min, max]) {
        expect(runJob.safeParse({ ...job, [name]: ok }).success).toBe(true);
        expect(() => resolveLimits(defaultContainerLimits, { [name]: ok })).not.toThrow();
      }
      for (const beyond of pastBounds(name, min, max)) {
        const parsed = runJob.safeParse({ ...job, [name]: beyond });
        expect(parsed.success).toBe(false);
        expect(parsed.error?.issues[0]?.path).toEqual([name]);
        expect(() => resolveLimits(defaultContainerLimits, { [name]: beyond })).toThrow(
          expect.objectContaining({ key: 'container.limitOutOfRange' }),
        );
      }
    });
  }

  it('stop’s grace period is bounded the same way', () => {
    const stop = { sessionId: 's1', runId: 'r1', op: 'stop', container: 'c' };
    const { max } = protocolBounds.stopGraceMs;
    expect(containerOpJob.safeParse({ ...stop, graceMs: max }).success).toBe(true);
    expect(containerOpJob.safeParse({ ...stop, graceMs: max + 1 }).success).toBe(false);
    expect(() => resolveLimits(defaultContainerLimits, { stopGraceMs: max + 1 })).toThrow(expect.objectContaining({ key: 'container.limitOutOfRange' }));
  });

  it('the engine’s defaults are inside the bounds a learner may ask for', () => {
    const d = defaultContainerLimits;
    const within = (name: keyof typeof protocolBounds, v: number) => v >= protocolBounds[name].min && v <= protocolBounds[name].max;
    expect(within('memoryBytes', d.memoryBytes) && within('pidsMax', d.pidsMax) && within('cpus', d.cpuQuotaMicros / d.cpuPeriodMicros)).toBe(true);
    expect(within('idleTimeoutMs', d.idleTimeoutMs) && within('writableLayerBytes', d.writableLayerBytes) && within('stopGraceMs', d.stopGraceMs)).toBe(true);
  });
});
