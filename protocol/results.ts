// What each job returns, as zod schemas beside the jobs (jobs.ts): the worker's handlers return
// values of these types and the worker validates them before they are stored, so the gateway
// can validate what it reads back (queue-client's waitForOutcome does). Nothing here carries a
// host path, a host pid or another session's name: objects are stripped to these fields.
import { z } from 'zod';
import { lazySchema } from './lazy-schema.js';
import { learnerErrorPayload } from './errors.js';
import { cacheReason, changeKind } from './events.js';
import type { JobName } from './jobs.js';

const digest = lazySchema(() => z.string().regex(/^sha256:[0-9a-f]{64}$/));
const bytes = lazySchema(() => z.number().int().nonnegative());
/** An ISO 8601 time as the engine writes it (image configs may carry other precisions). */
const time = lazySchema(() => z.string());

// ---- build ----------------------------------------------------------------------------------

export const stepLayer = lazySchema(() =>
  z.object({
    chainId: digest,
    diffId: digest,
    sizeBytes: bytes,
    added: bytes,
    changed: bytes,
    deleted: bytes,
  }),
);

export const buildResult = lazySchema(() =>
  z.object({
    imageId: digest,
    /** The learner's names the image was tagged with (`app:latest`). */
    tags: z.array(z.string()),
    steps: z.array(
      z.object({
        step: z.number().int().positive(),
        stage: z.string(),
        instruction: z.string(),
        /** The step's line in the Dockerfile. */
        line: z.number().int().positive(),
        /** null for FROM, which takes an image rather than making one. */
        cacheHit: z.boolean().nullable(),
        reason: cacheReason.optional(),
        /** The image the step produced (for FROM: the base; null for scratch). */
        imageId: digest.nullable(),
        layer: stepLayer.optional(),
      }),
    ),
    durationMs: z.number().nonnegative(),
    /** Build arguments no ARG declared (Docker warns about these). */
    unusedBuildArgs: z.array(z.string()),
  }),
);
export type BuildJobResult = z.infer<typeof buildResult>;

// ---- containers -----------------------------------------------------------------------------

export const containerStatus = lazySchema(() => z.enum(['created', 'running', 'paused', 'exited']));

/** A container's limits as the engine applies them (cpus = cpuQuotaMicros / cpuPeriodMicros). */
export const appliedLimits = lazySchema(() =>
  z.object({
    memoryBytes: bytes,
    pidsMax: z.number().int().positive(),
    cpuQuotaMicros: z.number().int().positive(),
    cpuPeriodMicros: z.number().int().positive(),
    idleTimeoutMs: z.number().int().positive(),
    /** Wall-clock time per start (the host operator's); absent: none. */
    timeLimitMs: z.number().int().positive().optional(),
    writableLayerBytes: bytes,
    stopGraceMs: z.number().int().nonnegative(),
  }),
);

export const exitState = lazySchema(() =>
  z.object({
    exitCode: z.number().int(),
    oomKilled: z.boolean(),
    timedOut: z.boolean(),
    signal: z.string().optional(),
    finishedAt: time.nullable(),
  }),
);

/** One row of `ps -a`. */
export const containerSummary = lazySchema(() =>
  z.object({
    id: z.string(),
    shortId: z.string(),
    name: z.string(),
    /** The image as the learner named it, and what it resolved to. */
    image: z.string(),
    imageId: digest,
    /** What it runs: entrypoint + cmd. */
    command: z.array(z.string()),
    created: time,
    status: containerStatus,
    startedAt: time.nullable(),
    finishedAt: time.nullable(),
    exitCode: z.number().int(),
    oomKilled: z.boolean(),
    /** Stopped by the engine's wall-clock limit. */
    timedOut: z.boolean(),
    signal: z.string().optional(),
    /** Why the last start failed (the command was not found…). */
    error: z.string().optional(),
    limits: appliedLimits,
    cpus: z.number().positive(),
  }),
);
export type ContainerSummary = z.infer<typeof containerSummary>;

/** `inspect`: the container over its image's layers. */
export const containerDetail = containerSummary.extend({
  /** The image's layers, bottom to top (index 0 is the base). */
  layers: z.array(z.object({ index: z.number().int().nonnegative(), diffId: digest, chainId: digest, sizeBytes: bytes })),
  /** The container's own thin layer above them. */
  writableLayer: z.object({
    sizeBytes: bytes,
    limitBytes: bytes,
    /** Whether the kernel enforces limitBytes (a quota filesystem), or it is only advised. */
    enforced: z.boolean(),
  }),
  lastActivityAt: time.nullable(),
});
export type ContainerDetail = z.infer<typeof containerDetail>;

export const runResult = containerSummary.pick({ id: true, shortId: true, name: true, image: true, imageId: true, status: true, limits: true, cpus: true });
export type RunJobResult = z.infer<typeof runResult>;

export const fileChange = lazySchema(() => z.object({ kind: changeKind, path: z.string() }));

export const containerStats = lazySchema(() =>
  z.object({
    containerId: z.string(),
    name: z.string(),
    running: z.boolean(),
    memoryBytes: bytes,
    memoryLimitBytes: bytes,
    pids: z.number().int().nonnegative(),
    pidsLimit: z.number().int().nonnegative(),
    cpuUsageNanos: z.number().nonnegative(),
    cpuPercent: z.number().nonnegative(),
  }),
);

/** One result per op, on `op`. */
export const containerOpResult = lazySchema(() =>
  z.discriminatedUnion('op', [
    z.object({ op: z.literal('list'), containers: z.array(containerSummary) }),
    z.object({ op: z.literal('inspect'), container: containerDetail }),
    z.object({ op: z.literal('stop'), containerId: z.string(), exit: exitState }),
    /** `container` is null when the kill removed it (`--rm`). */
    z.object({ op: z.literal('kill'), containerId: z.string(), container: containerSummary.nullable() }),
    z.object({ op: z.literal('rm'), removed: z.string() }),
    z.object({ op: z.literal('pause'), container: containerSummary }),
    z.object({ op: z.literal('unpause'), container: containerSummary }),
    z.object({
      op: z.literal('diff'),
      containerId: z.string(),
      changes: z.array(fileChange),
      /** How many changes there are; `changes` holds the first of them when truncated. */
      total: z.number().int().nonnegative(),
      truncated: z.boolean(),
      /** The writable layer's size as these changes leave it (the container view shows it live). */
      sizeBytes: bytes,
    }),
    z.object({ op: z.literal('commit'), imageId: digest, tag: z.string().nullable(), layer: stepLayer }),
    z.object({ op: z.literal('stats'), stats: containerStats }),
    z.object({ op: z.literal('touch'), containerId: z.string(), lastActivityAt: time.nullable() }),
    /** The last lines of its output (stdout and stderr as they came), at most 256 KiB of them. */
    z.object({ op: z.literal('logs'), containerId: z.string(), text: z.string(), truncated: z.boolean() }),
  ]),
);
export type ContainerOpResult = z.infer<typeof containerOpResult>;

// ---- images ---------------------------------------------------------------------------------

/** An image as `docker images` (the API's ImageSummary) shows it, in the session's names. */
export const imageSummary = lazySchema(() =>
  z.object({
    id: digest,
    /** `repo:tag` in the learner's names; empty for an untagged (`<none>`) image. */
    tags: z.array(z.string()),
    created: time.nullable(),
    sizeBytes: bytes,
    /** Bytes of its layers that another of the listed images also uses (stored once). */
    sharedSizeBytes: bytes,
    /** The session's containers made from it (running or not). */
    containers: z.number().int().nonnegative(),
    layers: z.number().int().nonnegative(),
    /** A base image everyone on the host shares: it cannot be removed. */
    base: z.boolean(),
  }),
);
export type ImageSummary = z.infer<typeof imageSummary>;

export const historyRow = lazySchema(() =>
  z.object({
    /** The image this step produced, when it exists here (Docker prints `<missing>` otherwise). */
    id: digest.nullable(),
    created: time.nullable(),
    createdBy: z.string(),
    sizeBytes: bytes,
    /** A step that made no layer (ENV, CMD…). */
    emptyLayer: z.boolean(),
    comment: z.string(),
    /** The image's layer this row made (0 = bottom), null for an empty layer. */
    layerIndex: z.number().int().nonnegative().nullable(),
    /** The Dockerfile line of the instruction, when this host built it (null otherwise). */
    line: z.number().int().positive().nullable(),
  }),
);
export type HistoryRow = z.infer<typeof historyRow>;

export const layerFileChange = fileChange.extend({
  /** Bytes of the file in this layer (0 for directories, deletions and links). */
  sizeBytes: bytes,
});

export const imageOpResult = lazySchema(() =>
  z.discriminatedUnion('op', [
    z.object({ op: z.literal('list'), images: z.array(imageSummary) }),
    z.object({ op: z.literal('history'), imageId: digest, rows: z.array(historyRow) }),
    z.object({ op: z.literal('rmi'), untagged: z.array(z.string()), deleted: z.array(digest) }),
    z.object({
      op: z.literal('layer-changes'),
      imageId: digest,
      layerIndex: z.number().int().nonnegative(),
      diffId: digest,
      changes: z.array(layerFileChange),
      total: z.number().int().nonnegative(),
      truncated: z.boolean(),
    }),
  ]),
);
export type ImageOpResult = z.infer<typeof imageOpResult>;

// ---- vm -------------------------------------------------------------------------------------

export const vmEndReason = lazySchema(() => z.enum(['exited', 'timeout', 'boot-timeout', 'killed', 'crashed']));

export const vmResult = lazySchema(() =>
  z.object({
    /** The command's status as the guest reported it (124 at a time limit, 137 killed). */
    exitCode: z.number().int(),
    reason: vmEndReason,
    /** KVM, or TCG: every guest instruction translated by qemu (emulation, many times slower). */
    accel: z.enum(['kvm', 'tcg']),
    /** The guest kernel's release (`uname -r` inside), null if it never said. */
    kernel: z.string().nullable(),
    boot: z.object({ firmwareMs: z.number(), kernelMs: z.number(), initMs: z.number(), totalMs: z.number() }).nullable(),
    /** The serial console's last 64 KiB. */
    output: z.string(),
  }),
);
export type VmResult = z.infer<typeof vmResult>;

// ---- compare --------------------------------------------------------------------------------

export const compareMachine = lazySchema(() => z.enum(['host', 'container', 'vm']));
export const compareMetric = lazySchema(() => z.enum(['cpu', 'memoryWrite', 'memoryRead', 'disk', 'network']));
const figure = lazySchema(() =>
  z.object({
    /** In the row's unit; null when it could not run (`missing` says why). */
    value: z.number().nullable(),
    /** The tool's line the figure was read from (or its last lines when none). */
    raw: z.string(),
    missing: z.string().optional(),
  }),
);

export const compareResult = lazySchema(() =>
  z.object({
    image: z.string(),
    /** What the container and VM ran: the image, or layercake/bench when the image lacks sysbench or iperf3. */
    ranImage: z.string(),
    substituted: z.boolean(),
    accel: z.enum(['kvm', 'tcg']),
    runs: z.array(
      z.object({
        machine: compareMachine,
        image: z.string().nullable(),
        accel: z.enum(['kvm', 'tcg']).optional(),
        ms: z.number().nonnegative(),
        figures: z.record(compareMetric, figure),
        error: z.string().optional(),
      }),
    ),
    /** Higher is faster in every row; a ratio is the machine's figure over the host's. */
    rows: z.array(
      z.object({
        metric: compareMetric,
        unit: z.string(),
        tool: z.string(),
        host: z.number().nullable(),
        container: z.number().nullable(),
        vm: z.number().nullable(),
        containerRatio: z.number().nullable(),
        vmRatio: z.number().nullable(),
      }),
    ),
  }),
);
export type CompareResult = z.infer<typeof compareResult>;

// ---- pull -----------------------------------------------------------------------------------

export const pullResult = lazySchema(() =>
  z.object({
    /** The image as the session now names it (`nginx:latest`, `localhost:5000/s1/app:v1`). */
    name: z.string(),
    /** The manifest's digest as the registry served it (the index's when there was one). */
    digest,
    imageId: digest,
    /** Each layer as the registry stores it, and the bytes this pull fetched of it (0: the host had it). */
    layers: z.array(z.object({ digest, sizeBytes: bytes, fetchedBytes: bytes })),
  }),
);
export type PullResult = z.infer<typeof pullResult>;

// ---- every job ------------------------------------------------------------------------------

export const jobResultSchemas = {
  build: buildResult,
  run: runResult,
  'container-op': containerOpResult,
  'image-op': imageOpResult,
  vm: vmResult,
  pull: pullResult,
  compare: compareResult,
} as const satisfies Record<JobName, z.ZodType>;
export type JobResult<N extends JobName> = z.infer<(typeof jobResultSchemas)[N]>;

/** A completed job's return value: its result, or the learner error it ended with. */
export function jobOutcomeSchema<N extends JobName>(name: N) {
  return z.discriminatedUnion('ok', [
    z.object({ ok: z.literal(true), result: jobResultSchemas[name] as (typeof jobResultSchemas)[N] }),
    z.object({ ok: z.literal(false), error: learnerErrorPayload }),
  ]);
}
