// Reads runs:container and runs:image replies with the engine's result schemas
// (protocol/results.ts) into the store's shapes. A reply of another op or shape reads as
// nothing rather than breaking the page. Every string is made printable: names, history and
// paths are learner-controlled and the page shows them outside a terminal.
import { printableDeep } from '../../../../protocol/printable';
import { containerOpResult, imageOpResult, type ContainerOpResult, type ImageOpResult } from '../../../../protocol/results';
import type { ContainerDiff, ContainerStatsView, SessionContainer } from '../../lib/run-store';

function containerResult<O extends ContainerOpResult['op']>(result: unknown, op: O): Extract<ContainerOpResult, { op: O }> | null {
  const parsed = containerOpResult.safeParse(result);
  return parsed.success && parsed.data.op === op ? (printableDeep(parsed.data) as Extract<ContainerOpResult, { op: O }>) : null;
}

export function imageResult<O extends ImageOpResult['op']>(result: unknown, op: O): Extract<ImageOpResult, { op: O }> | null {
  const parsed = imageOpResult.safeParse(result);
  return parsed.success && parsed.data.op === op ? (printableDeep(parsed.data) as Extract<ImageOpResult, { op: O }>) : null;
}

export function readContainers(result: unknown): SessionContainer[] | null {
  const list = containerResult(result, 'list');
  if (!list) return null;
  return list.containers.map((c) => ({
    id: c.id,
    name: c.name,
    image: c.image,
    imageId: c.imageId,
    status: c.status,
    exitCode: c.exitCode,
    oomKilled: c.oomKilled,
    timedOut: c.timedOut,
    startedAt: c.startedAt,
    idleTimeoutMs: c.limits.idleTimeoutMs,
    ...(c.limits.timeLimitMs ? { timeLimitMs: c.limits.timeLimitMs } : {}),
  }));
}

export function readInspect(result: unknown) {
  return containerResult(result, 'inspect')?.container ?? null;
}

export function readDiff(result: unknown, at: string): ContainerDiff | null {
  const diff = containerResult(result, 'diff');
  return diff ? { changes: diff.changes, truncated: diff.truncated, sizeBytes: diff.sizeBytes, at } : null;
}

export function readStats(result: unknown, at: string): ContainerStatsView | null {
  const stats = containerResult(result, 'stats')?.stats;
  if (!stats) return null;
  const { memoryBytes, memoryLimitBytes, pids, pidsLimit, cpuPercent } = stats;
  return { memoryBytes, memoryLimitBytes, pids, pidsLimit, cpuPercent, at };
}

export function readCommit(result: unknown) {
  return containerResult(result, 'commit');
}

export function readImages(result: unknown) {
  return imageResult(result, 'list')?.images ?? null;
}

export function readHistory(result: unknown) {
  return imageResult(result, 'history');
}

export function readLayerChanges(result: unknown) {
  return imageResult(result, 'layer-changes');
}
