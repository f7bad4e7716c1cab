// Builds, containers and images, asked for by the browser and carried out by the session's
// worker host through the queue. The session is never part of a message: the gateway takes it
// from the cookie, so nothing here can name another learner's run, container or image.
//
//   runs:build      BuildRequest      → { ok, runId }   the workspace is the build context
//   runs:run        RunRequest        → { ok, runId }   a container from an image (tty, size)
//   runs:container  ContainerRequest  → { ok, runId, result }  waits for the op's result
//   runs:image      ImageRequest      → { ok, runId, result }  waits for the op's result
//   runs:subscribe  { runId, afterSeq } → { ok }  then, for that run:
//       runs:queued  RunQueued    every ~second while its job waits (position 1 = next)
//       runs:event   RunEvent     each engine event with seq > afterSeq, in order, once
//       runs:done    RunDone      when its job ends (a run job ends once the container runs;
//                                 container.exited still arrives later as a runs:event)
//   runs:unsubscribe { runId }     → { ok }
// Only runs this session started can be subscribed to; any other id is `runs.notFound`.
import { z } from 'zod';
import { errorPayload } from '../errors.js';
import { engineEvent } from '../events.js';

export const runIdSchema = z.string().regex(/^[A-Za-z0-9_.-]{1,80}$/);
const imageRef = z.string().min(1).max(255);
const containerRef = z.string().min(1).max(128);

export const buildRequest = z
  .object({
    /** Which workspace file is the Dockerfile. */
    dockerfilePath: z.string().min(1).max(1024).default('Dockerfile'),
    tags: z.array(z.string().min(1).max(255)).max(8).default([]),
    buildArgs: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/), z.string().max(4096)).default({}),
    noCache: z.boolean().default(false),
    target: z.string().max(128).optional(),
  })
  .strict();
export type BuildRequest = z.input<typeof buildRequest>;

export const runRequest = z
  .object({
    image: imageRef,
    name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/).optional(),
    cmd: z.array(z.string().max(4096)).max(64).optional(),
    env: z.array(z.string().max(4096).regex(/^[^=]+=/)).max(64).default([]),
    tty: z.boolean().default(true),
    rows: z.number().int().min(1).max(500).default(24),
    cols: z.number().int().min(1).max(500).default(80),
    removeOnExit: z.boolean().default(false),
    memoryBytes: z.number().int().positive().optional(),
    pidsMax: z.number().int().positive().optional(),
    cpus: z.number().positive().optional(),
  })
  .strict();
export type RunRequest = z.input<typeof runRequest>;

export const containerOps = ['stop', 'kill', 'rm', 'pause', 'unpause', 'diff', 'commit', 'stats', 'logs', 'inspect', 'list'] as const;
export const containerRequest = z
  .object({
    op: z.enum(containerOps),
    /** Id, id prefix or name; not needed for `list`. */
    container: containerRef.optional(),
    force: z.boolean().default(false),
    signal: z.string().regex(/^(SIG)?[A-Z0-9]+$/).optional(),
    commitTag: z.string().max(255).optional(),
    /** `list`: stopped containers too. */
    all: z.boolean().default(true),
  })
  .strict()
  .refine((r) => r.op === 'list' || r.container !== undefined, { message: 'container is required', path: ['container'] });
export type ContainerRequest = z.input<typeof containerRequest>;

export const imageOps = ['list', 'history', 'rmi', 'layer-changes'] as const;
export const imageRequest = z
  .object({
    op: z.enum(imageOps),
    /** Image reference or id; not needed for `list`. */
    image: imageRef.optional(),
    /** `layer-changes`: which layer of the image (its diffId), files it added/changed/deleted. */
    layer: z.string().max(128).optional(),
    force: z.boolean().default(false),
  })
  .strict()
  .refine((r) => r.op === 'list' || r.image !== undefined, { message: 'image is required', path: ['image'] });
export type ImageRequest = z.input<typeof imageRequest>;

export const subscribeRequest = z.object({ runId: runIdSchema, afterSeq: z.number().int().min(-1).default(-1) }).strict();
export const unsubscribeRequest = z.object({ runId: runIdSchema }).strict();

export const runQueued = z.object({ runId: z.string(), position: z.number().int().nonnegative(), etaMs: z.number().nonnegative() });
export type RunQueued = z.infer<typeof runQueued>;

export const runEvent = z.object({ runId: z.string(), event: engineEvent });
export type RunEvent = z.infer<typeof runEvent>;

/** The job's outcome: its result (validated with the job's result schema) or the error to show. */
export const runDone = z.union([
  z.object({ runId: z.string(), ok: z.literal(true), result: z.unknown() }),
  z.object({ runId: z.string(), ok: z.literal(false), error: errorPayload }),
]);
export type RunDone = z.infer<typeof runDone>;

export interface RunsReplies {
  'runs:build': { runId: string };
  'runs:run': { runId: string };
  'runs:container': { runId: string; result: unknown };
  'runs:image': { runId: string; result: unknown };
  'runs:subscribe': object;
  'runs:unsubscribe': object;
}

export const runsRequests = {
  'runs:build': buildRequest,
  'runs:run': runRequest,
  'runs:container': containerRequest,
  'runs:image': imageRequest,
  'runs:subscribe': subscribeRequest,
  'runs:unsubscribe': unsubscribeRequest,
} as const;
