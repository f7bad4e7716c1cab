// Gutter annotations from the run store's picture of a build (events folded by lib/run-store),
// as a learner would see them: which line made which layer, its size, cached or not.
import { describe, expect, it } from 'vitest';
import type { EngineEvent } from '../../../../protocol/events';
import { emptyRun, foldEvents } from '../../lib/run-store';
import { lineAnnotations } from './gutter';

const at = '2026-12-01T09:00:00.000Z';
const digest = (c: string) => `sha256:${c.repeat(64)}`;
function events(runId: string): EngineEvent[] {
  let seq = 0;
  const e = (body: Record<string, unknown>) => ({ runId, seq: seq++, at, ...body }) as EngineEvent;
  return [
    e({ type: 'build.started', tags: ['hello'] }),
    e({ type: 'build.planned', steps: 3, stages: 1 }),
    e({ type: 'build.step', step: 1, total: 3, stage: '0', instruction: 'FROM busybox', line: 2 }),
    e({ type: 'build.step', step: 2, total: 3, stage: '0', instruction: 'COPY hello.txt .', line: 3 }),
    e({ type: 'build.cache', step: 2, cacheHit: true, reason: { key: 'cache.hit', facts: {} } }),
    e({ type: 'layer.committed', step: 2, chainId: digest('a'), diffId: digest('b'), sizeBytes: 12_300, added: 1, changed: 0, deleted: 0 }),
    e({ type: 'build.step', step: 3, total: 3, stage: '0', instruction: 'RUN false', line: 5 }),
    e({ type: 'build.cache', step: 3, cacheHit: false, reason: { key: 'cache.miss.firstTime', facts: {} } }),
    e({ type: 'build.failed', step: 3, error: { kind: 'learner', key: 'build.runFailed', facts: { line: 5, exitCode: 1, command: 'false' }, line: 5 } }),
  ];
}

describe('gutter annotations', () => {
  const build = foldEvents(emptyRun('r1'), events('r1')).build;

  it('put each step at the line its instruction starts, with its layer size and cache state', () => {
    const lines = lineAnnotations(build, null, 'en');
    expect(lines.map((l) => [l.line, l.step, l.mark])).toEqual([
      [2, 1, 'from'],
      [3, 2, 'cached'],
      [5, 3, 'failed'],
    ]);
    expect(lines[1]!.note).toBe('12.3\u00a0kB · CACHED');
    expect(lines[1]!.hover).toContain('1 added');
  });

  it('speak Korean to a Korean reader', () => {
    const lines = lineAnnotations(build, 2, 'ko');
    expect(lines[1]!.note).toBe('12.3\u00a0kB · 캐시됨');
    expect(lines[1]!.selected).toBe(true);
    expect(lines[2]!.note).toContain('실패');
  });

  it('are empty before the first build', () => {
    expect(lineAnnotations(null, null, 'en')).toEqual([]);
  });
});
