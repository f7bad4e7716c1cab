// The bounds a learner may ask for, per container (`run -m`, `--pids-limit`, `--cpus`…), inclusive.
// One source: the job schemas (jobs.ts) refuse a job beyond them before it is queued, and the
// engine (worker/src/limits.ts → containers/container-limits.ts) checks the same numbers, so the
// site never offers what the engine would refuse. Units are in the names.
import { formatBytes, LearnerError } from './errors.js';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

const bound = (min: number, max: number) => Object.freeze({ min, max });

/**
 * What one build's input may be: the engine refuses more (build.dockerfileTooLarge,
 * build.contextTooLarge; worker/src/limits.ts buildLimits), and the site's workspace
 * (protocol/socket/files.ts) stays inside it.
 */
export const buildInputLimits = Object.freeze({
  dockerfileBytes: 256 * 1024,
  contextBytes: 50 * MiB,
});

export const containerLimitBounds = Object.freeze({
  memoryBytes: bound(6 * MiB, 1 * GiB),
  pidsMax: bound(8, 1024),
  /** CPUs as `--cpus` writes them (quota / period): 0.5 is half of one CPU. */
  cpus: bound(0.01, 2),
  idleTimeoutMs: bound(10_000, 4 * 60 * 60 * 1000),
  writableLayerBytes: bound(1 * MiB, 4 * GiB),
  stopGraceMs: bound(0, 5 * 60 * 1000),
});

export type ContainerLimitName = keyof typeof containerLimitBounds;

/** How the learner names each limit (the command line's flag), and how its values read. */
const described: Record<ContainerLimitName, { name: string; show: (n: number) => string }> = {
  memoryBytes: { name: '--memory', show: formatBytes },
  pidsMax: { name: '--pids-limit', show: String },
  cpus: { name: '--cpus', show: String },
  idleTimeoutMs: { name: 'idle timeout', show: (ms) => `${Math.round(ms / 1000)} s` },
  writableLayerBytes: { name: 'writable layer size', show: formatBytes },
  stopGraceMs: { name: '--time', show: (ms) => `${Math.round(ms / 1000)} s` },
};

/** The value, if inside its bounds; else the learner error that names the limit and its range. */
export function checkLimit(limit: ContainerLimitName, value: number): number {
  const { min, max } = containerLimitBounds[limit];
  if (!(value >= min && value <= max)) {
    const d = described[limit];
    throw new LearnerError('container.limitOutOfRange', { limit: d.name, min: d.show(min), max: d.show(max), value: d.show(value) });
  }
  return value;
}
