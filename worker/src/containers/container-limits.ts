// A container's limits: the engine's defaults (limits.ts, or what the operator configured),
// with what the learner asked for (`-m`, `--pids-limit`, `--cpus`…) inside containerLimitBounds.
import { z } from 'zod';
import { LearnerError } from '../../../protocol/errors.js';
import { formatBytes } from '../image-store/errors.js';
import { containerLimitBounds, containerLimits } from '../limits.js';
import type { ContainerLimits } from './record.js';

export const limitRequestSchema = z
  .object({
    memoryBytes: z.number().int().positive(),
    pidsMax: z.number().int().positive(),
    /** As `--cpus` writes it: 0.5 is half of one CPU. */
    cpus: z.number().positive(),
    idleTimeoutMs: z.number().int().positive(),
    writableLayerBytes: z.number().int().positive(),
    stopGraceMs: z.number().int().nonnegative(),
  })
  .partial()
  .strict();
export type LimitRequest = z.input<typeof limitRequestSchema>;

export const defaultContainerLimits: ContainerLimits = Object.freeze({
  memoryBytes: containerLimits.memoryBytes,
  pidsMax: containerLimits.pidsMax,
  cpuQuotaMicros: containerLimits.cpuQuotaMicros,
  cpuPeriodMicros: containerLimits.cpuPeriodMicros,
  idleTimeoutMs: containerLimits.idleTimeoutMs,
  writableLayerBytes: containerLimits.writableLayerBytes,
  stopGraceMs: containerLimits.stopGraceMs,
});

/** How the learner names each limit (the command line's flag), and how its values read. */
const described: Record<keyof typeof containerLimitBounds, { name: string; show: (n: number) => string }> = {
  memoryBytes: { name: '--memory', show: formatBytes },
  pidsMax: { name: '--pids-limit', show: String },
  cpus: { name: '--cpus', show: String },
  idleTimeoutMs: { name: 'idle timeout', show: (ms) => `${Math.round(ms / 1000)} s` },
  writableLayerBytes: { name: 'writable layer size', show: formatBytes },
  stopGraceMs: { name: '--time', show: (ms) => `${Math.round(ms / 1000)} s` },
};

export function checkBound(limit: keyof typeof containerLimitBounds, value: number): number {
  const { min, max } = containerLimitBounds[limit];
  if (value < min || value > max) {
    const d = described[limit];
    throw new LearnerError('container.limitOutOfRange', { limit: d.name, min: d.show(min), max: d.show(max), value: d.show(value) });
  }
  return value;
}

export function resolveLimits(defaults: ContainerLimits, request: LimitRequest | undefined): ContainerLimits {
  const r = limitRequestSchema.parse(request ?? {});
  const limits = { ...defaults };
  if (r.memoryBytes !== undefined) limits.memoryBytes = checkBound('memoryBytes', r.memoryBytes);
  if (r.pidsMax !== undefined) limits.pidsMax = checkBound('pidsMax', r.pidsMax);
  if (r.cpus !== undefined) limits.cpuQuotaMicros = Math.max(1000, Math.round(checkBound('cpus', r.cpus) * limits.cpuPeriodMicros));
  if (r.idleTimeoutMs !== undefined) limits.idleTimeoutMs = checkBound('idleTimeoutMs', r.idleTimeoutMs);
  if (r.writableLayerBytes !== undefined) limits.writableLayerBytes = checkBound('writableLayerBytes', r.writableLayerBytes);
  if (r.stopGraceMs !== undefined) limits.stopGraceMs = checkBound('stopGraceMs', r.stopGraceMs);
  return limits;
}

export function cpusOf(limits: ContainerLimits): number {
  return limits.cpuQuotaMicros / limits.cpuPeriodMicros;
}
