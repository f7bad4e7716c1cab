// Every event the engine emits, as one discriminated union on `type`. The UI draws from these;
// nothing scrapes log text. Each carries the run it belongs to and a per-run sequence number,
// so a reconnecting browser asks for "everything after seq N" and sees nothing twice.
import { z } from 'zod';
import { lazySchema } from './lazy-schema.js';
import { errorPayload } from './errors.js';

const base = lazySchema(() =>
  z.object({
    runId: z.string().min(1),
    seq: z.number().int().nonnegative(),
    at: z.string().datetime(),
  }),
);

const digest = lazySchema(() => z.string().regex(/^sha256:[0-9a-f]{64}$/));

/** Why a build step was or was not taken from the cache, as an i18n key plus facts. */
export const cacheReason = lazySchema(() =>
  z.object({
    key: z.enum([
      'cache.hit',
      'cache.miss.noCache',
      'cache.miss.firstTime',
      'cache.miss.instructionChanged',
      'cache.miss.filesChanged',
      'cache.miss.parentChanged',
      'cache.miss.argChanged',
    ]),
    facts: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).default({}),
  }),
);
export type CacheReason = z.infer<typeof cacheReason>;

export const changeKind = lazySchema(() => z.enum(['A', 'C', 'D']));

export const engineEvent = lazySchema(() =>
  z.discriminatedUnion('type', [
    // Started: the host took the job and its context is in place (the Dockerfile is not read yet, so a
    // syntax error comes after it, as a failing step's error does). Planned: how many steps and stages.
    z.object({ ...base.shape, type: z.literal('build.started'), tags: z.array(z.string()) }),
    z.object({ ...base.shape, type: z.literal('build.planned'), steps: z.number().int(), stages: z.number().int() }),
    z.object({
      ...base.shape,
      type: z.literal('build.step'),
      step: z.number().int().positive(),
      total: z.number().int().positive(),
      stage: z.string(),
      instruction: z.string(),
      line: z.number().int().positive(),
    }),
    z.object({ ...base.shape, type: z.literal('build.cache'), step: z.number().int().positive(), cacheHit: z.boolean(), reason: cacheReason }),
    z.object({ ...base.shape, type: z.literal('build.log'), step: z.number().int().positive(), stream: z.enum(['stdout', 'stderr']), text: z.string() }),
    /** A RUN step's way out: the package hosts it reached, bytes both ways each, and what was refused (worker/src/egress/). */
    z.object({ ...base.shape, type: z.literal('build.egress'), step: z.number().int().positive(), hosts: z.array(z.object({ host: z.string(), bytes: z.number().int().nonnegative() })), refused: z.array(z.string()) }),
    z.object({
      ...base.shape,
      type: z.literal('build.finished'),
      imageId: digest,
      tags: z.array(z.string()),
      cachedSteps: z.number().int(),
      totalSteps: z.number().int(),
      durationMs: z.number().nonnegative(),
    }),
    // A learner error shows what to fix; an internal one only an apology and an id to quote.
    z.object({ ...base.shape, type: z.literal('build.failed'), step: z.number().int().positive().optional(), error: errorPayload }),
    z.object({
      ...base.shape,
      type: z.literal('layer.committed'),
      step: z.number().int().positive().optional(),
      containerId: z.string().optional(),
      chainId: digest,
      diffId: digest,
      sizeBytes: z.number().int().nonnegative(),
      added: z.number().int().nonnegative(),
      changed: z.number().int().nonnegative(),
      deleted: z.number().int().nonnegative(),
    }),
    z.object({ ...base.shape, type: z.literal('container.created'), containerId: z.string(), name: z.string(), image: z.string() }),
    z.object({
      ...base.shape,
      type: z.literal('container.started'),
      containerId: z.string(),
      image: z.string(),
      limits: z.object({
        memoryBytes: z.number().int(),
        pidsMax: z.number().int(),
        cpus: z.number(),
        idleTimeoutMs: z.number().int(),
        /** The host operator's wall-clock limit for this start; absent: none. */
        timeLimitMs: z.number().int().positive().optional(),
      }),
    }),
    z.object({
      ...base.shape,
      type: z.literal('container.diff'),
      containerId: z.string(),
      changes: z.array(z.object({ kind: changeKind, path: z.string() })),
      truncated: z.boolean().default(false),
    }),
    z.object({
      ...base.shape,
      type: z.literal('container.exited'),
      containerId: z.string(),
      exitCode: z.number().int(),
      oomKilled: z.boolean(),
      timedOut: z.boolean(),
      signal: z.string().optional(),
    }),
    z.object({
      ...base.shape,
      type: z.literal('container.stats'),
      containerId: z.string(),
      memoryBytes: z.number().int().nonnegative(),
      memoryLimitBytes: z.number().int().nonnegative(),
      pids: z.number().int().nonnegative(),
      pidsLimit: z.number().int().nonnegative(),
      cpuUsageNanos: z.number().nonnegative(),
      cpuPercent: z.number().nonnegative(),
    }),
    z.object({ ...base.shape, type: z.literal('container.paused'), containerId: z.string() }),
    z.object({ ...base.shape, type: z.literal('container.unpaused'), containerId: z.string() }),
    z.object({ ...base.shape, type: z.literal('container.removed'), containerId: z.string() }),
    // A pull (worker/src/registry/): one event per layer as its bytes arrive, `resumed` when a
    // download went on from where a cut connection left it, `verified` once its digest matched,
    // `cached` when the host's pull-through cache already had it.
    z.object({
      ...base.shape,
      type: z.literal('pull.layer'),
      image: z.string(),
      digest,
      status: z.enum(['cached', 'downloading', 'resumed', 'verified']),
      bytes: z.number().int().nonnegative(),
      totalBytes: z.number().int().nonnegative(),
    }),
    z.object({ ...base.shape, type: z.literal('pull.finished'), image: z.string(), digest, imageId: digest, fetchedBytes: z.number().int().nonnegative() }),
    // A VM (worker/src/vm/): the image booted with its own kernel. `accel` says whether qemu ran
    // it on KVM or emulated every instruction (TCG).
    z.object({ ...base.shape, type: z.literal('vm.booting'), vmId: z.string(), image: z.string(), accel: z.enum(['kvm', 'tcg']), vcpus: z.number().int().positive(), memoryBytes: z.number().int().positive(), kernelPackage: z.string() }),
    /** The guest kernel's release, beside the host's: they differ, a container's would not. */
    z.object({ ...base.shape, type: z.literal('vm.kernel'), vmId: z.string(), release: z.string(), hostRelease: z.string() }),
    /** Start to the command: qemu and the kernel's loading, the kernel's boot, init's mounts. */
    z.object({ ...base.shape, type: z.literal('vm.ready'), vmId: z.string(), firmwareMs: z.number().nonnegative(), kernelMs: z.number().nonnegative(), initMs: z.number().nonnegative(), totalMs: z.number().nonnegative() }),
    /** qemu's resident memory (the guest's RAM it touched, its own code and TCG's cache). */
    z.object({ ...base.shape, type: z.literal('vm.stats'), vmId: z.string(), qemuRssBytes: z.number().int().nonnegative(), memoryLimitBytes: z.number().int().nonnegative(), containerMemoryBytes: z.number().int().nonnegative().nullable() }),
    z.object({ ...base.shape, type: z.literal('vm.exited'), vmId: z.string(), exitCode: z.number().int(), reason: z.enum(['exited', 'timeout', 'boot-timeout', 'killed', 'crashed']), limitMs: z.number().optional() }),
    /** `compare`: one machine's benchmarks began or ended (the table is the job's result). */
    z.object({ ...base.shape, type: z.literal('compare.machine'), machine: z.enum(['host', 'container', 'vm']), phase: z.enum(['start', 'done']), ms: z.number().nonnegative().optional(), error: z.string().optional() }),
  ]),
);

export type EngineEvent = z.infer<typeof engineEvent>;
export type EngineEventType = EngineEvent['type'];
/** An event as its producer writes it: runId, seq and time are stamped by the sink. */
export type EventBody<T extends EngineEventType = EngineEventType> = T extends EngineEventType
  ? Omit<Extract<EngineEvent, { type: T }>, 'runId' | 'seq' | 'at'>
  : never;
