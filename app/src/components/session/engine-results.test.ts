import { describe, expect, it } from 'vitest';
import { readContainers, readDiff, readImages, readInspect, readLayerChanges, readStats } from './engine-results';

const digest = (c: string) => `sha256:${c.repeat(64)}`;
const limits = { memoryBytes: 268435456, pidsMax: 128, cpuQuotaMicros: 50000, cpuPeriodMicros: 100000, idleTimeoutMs: 1800000, writableLayerBytes: 1 << 30, stopGraceMs: 10000 };
const summary = {
  id: 'c'.repeat(64), shortId: 'c'.repeat(12), name: 'brave_turing', image: 'app:latest', imageId: digest('a'), command: ['sh'],
  created: '2026-12-01T09:00:00.000Z', status: 'running', startedAt: '2026-12-01T09:00:01.000Z', finishedAt: null,
  exitCode: 0, oomKilled: false, timedOut: false, limits, cpus: 0.5,
};

describe('op replies read with the engine\'s result schemas', () => {
  it('reads ps -a with each container\'s idle timeout', () => {
    expect(readContainers({ op: 'list', containers: [summary] })).toEqual([
      expect.objectContaining({ id: summary.id, name: 'brave_turing', status: 'running', imageId: digest('a'), idleTimeoutMs: 1800000 }),
    ]);
  });

  it('reads inspect with the image\'s layers and the last activity', () => {
    const detail = {
      ...summary,
      layers: [{ index: 0, diffId: digest('b'), chainId: digest('b'), sizeBytes: 2000000 }],
      writableLayer: { sizeBytes: 3, limitBytes: 1 << 30, enforced: false },
      lastActivityAt: '2026-12-01T09:05:00.000Z',
    };
    expect(readInspect({ op: 'inspect', container: detail })).toMatchObject({ lastActivityAt: detail.lastActivityAt, layers: detail.layers });
  });

  it('reads a diff and stats, stamped with when they were read', () => {
    const at = '2026-12-01T09:06:00.000Z';
    expect(readDiff({ op: 'diff', containerId: summary.id, changes: [{ kind: 'A', path: '/x' }], total: 1, truncated: false, sizeBytes: 3 }, at)).toEqual({
      changes: [{ kind: 'A', path: '/x' }],
      truncated: false,
      sizeBytes: 3,
      at,
    });
    const stats = { containerId: summary.id, name: 'brave_turing', running: true, memoryBytes: 150000, memoryLimitBytes: 268435456, pids: 1, pidsLimit: 128, cpuUsageNanos: 1e6, cpuPercent: 0.4 };
    expect(readStats({ op: 'stats', stats }, at)).toEqual({ memoryBytes: 150000, memoryLimitBytes: 268435456, pids: 1, pidsLimit: 128, cpuPercent: 0.4, at });
  });

  it('reads images and a layer\'s files', () => {
    const image = { id: digest('a'), tags: ['app:latest'], created: null, sizeBytes: 2000023, sharedSizeBytes: 2000000, containers: 1, layers: 2, base: false };
    expect(readImages({ op: 'list', images: [image] })).toEqual([image]);
    const files = { op: 'layer-changes', imageId: digest('a'), layerIndex: 1, diffId: digest('c'), changes: [{ kind: 'A', path: '/hello.txt', sizeBytes: 23 }], total: 1, truncated: false };
    expect(readLayerChanges(files)?.changes).toEqual([{ kind: 'A', path: '/hello.txt', sizeBytes: 23 }]);
  });

  it('reads a reply of another op, or of another shape, as nothing', () => {
    expect(readDiff({ op: 'stats', stats: {} }, '2026-12-01T09:06:00.000Z')).toBeNull();
    expect(readContainers({ op: 'list', containers: [{ id: 1 }] })).toBeNull();
    expect(readImages(undefined)).toBeNull();
    expect(readStats('nonsense', '2026-12-01T09:06:00.000Z')).toBeNull();
  });

  it('shows learner-controlled text without its escape sequences (a diff path, a container name)', () => {
    const osc52 = '\x1b]52;c;cHduZWQ=\x07';
    const diff = { op: 'diff', containerId: summary.id, changes: [{ kind: 'A', path: `/x${osc52}` }], total: 1, truncated: false, sizeBytes: 3 };
    expect(readDiff(diff, 'now')?.changes).toEqual([{ kind: 'A', path: '/x' }]);
    expect(readContainers({ op: 'list', containers: [{ ...summary, name: `evil\x1b[2J${osc52}` }] })?.[0]?.name).toBe('evil');
    // Control: the reply itself carried them.
    expect(diff.changes[0]!.path).toContain('\x1b]52');
  });
});

