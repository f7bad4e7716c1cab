// A container's limits: the engine's defaults (limits.ts, or what the operator configured),
// with what the learner asked for (`-m`, `--pids-limit`, `--cpus`…) inside protocol/limits.ts's
// bounds, checked by the same function the gateway's jobs are (checkLimit). The time limit is
// the operator's alone: a request naming it is refused (the schema is strict).
import { z } from 'zod';
import { lazySchema } from '../../../protocol/lazy-schema.js';
import { checkLimit } from '../../../protocol/limits.js';
import { containerLimits } from '../limits.js';
import type { ContainerLimits } from './record.js';

export const limitRequestSchema = lazySchema(() =>
  z
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
    .strict(),
);
export type LimitRequest = z.input<typeof limitRequestSchema>;

export const defaultContainerLimits: ContainerLimits = Object.freeze({
  memoryBytes: containerLimits.memoryBytes,
  pidsMax: containerLimits.pidsMax,
  cpuQuotaMicros: containerLimits.cpuQuotaMicros,
  cpuPeriodMicros: containerLimits.cpuPeriodMicros,
  idleTimeoutMs: containerLimits.idleTimeoutMs,
  timeLimitMs: containerLimits.timeLimitMs,
  writableLayerBytes: containerLimits.writableLayerBytes,
  stopGraceMs: containerLimits.stopGraceMs,
});

export function resolveLimits(defaults: ContainerLimits, request: LimitRequest | undefined): ContainerLimits {
  const r = limitRequestSchema.parse(request ?? {});
  const limits = { ...defaults };
  if (r.memoryBytes !== undefined) limits.memoryBytes = checkLimit('memoryBytes', r.memoryBytes);
  if (r.pidsMax !== undefined) limits.pidsMax = checkLimit('pidsMax', r.pidsMax);
  if (r.cpus !== undefined) limits.cpuQuotaMicros = Math.max(1000, Math.round(checkLimit('cpus', r.cpus) * limits.cpuPeriodMicros));
  if (r.idleTimeoutMs !== undefined) limits.idleTimeoutMs = checkLimit('idleTimeoutMs', r.idleTimeoutMs);
  if (r.writableLayerBytes !== undefined) limits.writableLayerBytes = checkLimit('writableLayerBytes', r.writableLayerBytes);
  if (r.stopGraceMs !== undefined) limits.stopGraceMs = checkLimit('stopGraceMs', r.stopGraceMs);
  return limits;
}

export function cpusOf(limits: ContainerLimits): number {
  return limits.cpuQuotaMicros / limits.cpuPeriodMicros;
}
