// Jobs the gateway puts on a worker host's queue, validated on both sides. One handler per
// job name on the worker. A learner's session is pinned to one host: its images and
// containers live there. What each job returns: results.ts.
import { z } from 'zod';
import { lazySchema } from './lazy-schema.js';
import { isLearnerError, type LearnerError, type LearnerErrorPayload } from './errors.js';
import { checkLimit, containerLimitBounds, type ContainerLimitName } from './limits.js';

// Lowercase letters and digits: it becomes part of image names (see worker/src/sessions/images.ts).
const sessionId = lazySchema(() => z.string().regex(/^[a-z0-9]{1,64}$/));
const runId = lazySchema(() => z.string().regex(/^[A-Za-z0-9_.-]{1,80}$/));
/** Paths inside a build context: relative, no "..", no NUL. */
const contextPath = lazySchema(() =>
  z
    .string()
    .min(1)
    .max(1024)
    .refine((p) => !p.startsWith('/') && !p.split('/').includes('..') && !p.includes('\0'), 'a relative path inside the context'),
);
const imageRef = lazySchema(() => z.string().min(1).max(255));
/** A container's id, id prefix or name, in the job's session. */
const containerRef = lazySchema(() => z.string().min(1).max(128));
const digest = lazySchema(() => z.string().regex(/^sha256:[0-9a-f]{64}$/));

/** A limit the learner may ask for: inside protocol/limits.ts, the bounds the engine checks too. */
function limit(name: ContainerLimitName, integer = true) {
  const { min, max } = containerLimitBounds[name];
  return (integer ? z.number().int() : z.number()).min(min).max(max);
}

export const buildJob = lazySchema(() =>
  z.object({
    sessionId,
    runId,
    dockerfile: z.string(),
    dockerfilePath: contextPath.default('Dockerfile'),
    /** The build context: small text/binary files sent with the job (base64 for binary). */
    context: z
      .array(z.object({ path: contextPath, content: z.string(), encoding: z.enum(['utf8', 'base64']).default('utf8'), mode: z.number().int().min(0).max(0o7777).default(0o644) }))
      .default([]),
    tags: z.array(z.string().min(1).max(255)).default([]),
    buildArgs: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/), z.string()).default({}),
    noCache: z.boolean().default(false),
    target: z.string().optional(),
  }),
);
export type BuildJob = z.infer<typeof buildJob>;

export const runJob = lazySchema(() =>
  z.object({
    sessionId,
    runId,
    image: imageRef,
    name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/).optional(),
    cmd: z.array(z.string()).optional(),
    env: z.array(z.string().regex(/^[^=]+=/)).default([]),
    tty: z.boolean().default(true),
    rows: z.number().int().min(1).max(500).default(24),
    cols: z.number().int().min(1).max(500).default(80),
    removeOnExit: z.boolean().default(false),
    memoryBytes: limit('memoryBytes').optional(),
    pidsMax: limit('pidsMax').optional(),
    cpus: limit('cpus', false).optional(),
    /**
     * Whether the session lets this container reach package archives through the host's proxy
     * (worker/src/egress/). The worker's LAYERCAKE_CONTAINER_EGRESS can only narrow it; refused,
     * the container's apt or curl reads why. Absent: allowed.
     */
    egress: z.boolean().optional(),
  }),
);
export type RunJob = z.infer<typeof runJob>;

/**
 * `vm run`: the image booted as a virtual machine with Debian's kernel (worker/src/vm/): its
 * command runs on the guest's serial console, and the job ends when the guest powers off.
 */
export const vmJob = lazySchema(() =>
  z.object({
    sessionId,
    runId,
    image: imageRef,
    cmd: z.array(z.string()).optional(),
    /** The guest's RAM. */
    memoryBytes: z.number().int().min(64 * 1024 * 1024).max(1024 * 1024 * 1024).optional(),
    cpus: z.number().int().min(1).max(2).optional(),
    timeoutMs: z.number().int().min(5_000).max(30 * 60_000).optional(),
    /** What the learner types, sent once the command runs (the page's terminal relay is for containers only so far). */
    input: z.string().max(64 * 1024).optional(),
  }),
);
export type VmJob = z.infer<typeof vmJob>;

/**
 * `compare IMAGE`: the seed's benchmarks (sysbench CPU and memory, dd, iperf3 over the
 * loopback) on the host, in a container and in a VM of the image, as ratios to the host.
 */
export const compareJob = lazySchema(() => z.object({ sessionId, runId, image: imageRef }));
export type CompareJob = z.infer<typeof compareJob>;

/**
 * `docker pull`: an image from a registry into the session (worker/src/registry/), with a
 * `pull.layer` event per layer as its bytes arrive and `pull.finished` at the end.
 */
export const pullJob = lazySchema(() => z.object({ sessionId, runId, image: imageRef }));
export type PullJob = z.infer<typeof pullJob>;

const base = { sessionId, runId };
const onContainer = { ...base, container: containerRef };

/**
 * One operation on the session's containers. `list` is `ps -a` (no container named); every other
 * op names one container. Fields another op would take are ignored (stripped), not refused.
 */
export const containerOpJob = lazySchema(() =>
  z.discriminatedUnion('op', [
    z.object({ ...base, op: z.literal('list') }),
    z.object({ ...onContainer, op: z.literal('inspect') }),
    /** `docker stop [-t]`: the stop signal, then SIGKILL after the grace period (the container's own by default). */
    z.object({ ...onContainer, op: z.literal('stop'), graceMs: limit('stopGraceMs').optional() }),
    z.object({ ...onContainer, op: z.literal('kill'), signal: z.string().regex(/^(SIG)?[A-Z0-9]+$/).optional() }),
    z.object({ ...onContainer, op: z.literal('rm'), force: z.boolean().default(false) }),
    z.object({ ...onContainer, op: z.literal('pause') }),
    z.object({ ...onContainer, op: z.literal('unpause') }),
    z.object({ ...onContainer, op: z.literal('diff') }),
    z.object({ ...onContainer, op: z.literal('commit'), commitTag: z.string().min(1).max(255).optional() }),
    z.object({ ...onContainer, op: z.literal('stats') }),
    /** The learner is still there (the page's "keep working"): counts as activity for the idle reaper, as typing does. */
    z.object({ ...onContainer, op: z.literal('touch') }),
    z.object({ ...onContainer, op: z.literal('logs'), tail: z.number().int().min(1).max(2000).default(200) }),
  ]),
);
export type ContainerOpJob = z.infer<typeof containerOpJob>;
export type ContainerOp = ContainerOpJob['op'];

/** One operation on the session's images (their names and ids resolve in this session only). */
export const imageOpJob = lazySchema(() =>
  z.discriminatedUnion('op', [
    /** `docker images`: the session's images and the base images. */
    z.object({ ...base, op: z.literal('list') }),
    /** `docker history`: one row per step, newest first. */
    z.object({ ...base, op: z.literal('history'), image: imageRef }),
    /** `docker rmi [-f]`: refused while a container uses the image, as Docker refuses it. */
    z.object({ ...base, op: z.literal('rmi'), image: imageRef, force: z.boolean().default(false) }),
    /** The files one layer added, changed or deleted: the layer by its index (0 = bottom) or its diffId. */
    z.object({
      ...base,
      op: z.literal('layer-changes'),
      image: imageRef,
      layer: z.union([z.number().int().min(0).max(10_000), digest, z.string().regex(/^\d{1,5}$/).transform(Number)]),
      /** At most this many changes (the result says when there were more). */
      limit: z.number().int().min(1).max(5000).default(1000),
    }),
  ]),
);
export type ImageOpJob = z.infer<typeof imageOpJob>;
export type ImageOp = ImageOpJob['op'];

/** Job fields that are container limits, and which limit each is. */
const limitFields: Record<string, ContainerLimitName> = { memoryBytes: 'memoryBytes', pidsMax: 'pidsMax', cpus: 'cpus', graceMs: 'stopGraceMs' };

/**
 * For a job its schema refused: the learner error the engine gives for a limit beyond its bounds
 * (which limit, its range, what was asked), or null when the job is wrong in another way.
 */
export function limitErrorOf(input: unknown): LearnerError | null {
  if (typeof input !== 'object' || input === null) return null;
  for (const [field, limit] of Object.entries(limitFields)) {
    const value = (input as Record<string, unknown>)[field];
    if (typeof value !== 'number') continue;
    try {
      checkLimit(limit, value);
    } catch (err) {
      if (isLearnerError(err)) return err;
      throw err;
    }
  }
  return null;
}

export const jobSchemas = { build: buildJob, run: runJob, 'container-op': containerOpJob, 'image-op': imageOpJob, vm: vmJob, pull: pullJob, compare: compareJob } as const;
export type JobName = keyof typeof jobSchemas;
/** A job as the gateway may write it (defaults not yet filled in). */
export type JobRequest<N extends JobName> = z.input<(typeof jobSchemas)[N]>;

/**
 * How a job ends, as the gateway reads it back: a learner error is a result (the job completed
 * and the learner acts on it); an internal error fails the job with `{kind:'internal', errorId}`.
 */
export type JobOutcome<R> = { ok: true; result: R } | { ok: false; error: LearnerErrorPayload };
