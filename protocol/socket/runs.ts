// Builds, containers and images, asked for by the browser and carried out by the session's
// worker host through the queue. The session is never part of a message: the gateway takes it
// from the cookie, so nothing here can name another learner's run, container or image.
//
//   runs:build      BuildRequest      → { ok, runId }   the workspace is the build context
//   runs:run        RunRequest        → { ok, runId }   a container from an image (tty, size)
//   runs:vm         VmRequest         → { ok, runId }   the image booted as a VM; its serial console
//                                     is a terminal under the vmId of its vm.booting event
//   runs:container  ContainerRequest  → { ok, runId, result: ContainerOpResult }  (waits for it)
//   runs:image      ImageRequest      → { ok, runId, result: ImageOpResult }      (waits for it)
// Request fields are protocol/jobs.ts's (containerOpJob, imageOpJob, runJob) without sessionId
// and runId; results are protocol/results.ts's.
//   runs:subscribe  { runId, afterSeq } → { ok }  then, for that run:
//       runs:queued  RunQueued    every ~second while its job waits (position 1 = next)
//       runs:event   RunEvent     each engine event with seq > afterSeq, in order, once
//       runs:done    RunDone      when its job ends (a run job ends once the container runs;
//                                 container.exited still arrives later as a runs:event)
//   runs:unsubscribe { runId }     → { ok }
// Only runs this session started can be subscribed to; any other id is `runs.notFound`.
// A client that says FOLLOWS_STARTED_RUNS in its handshake is sent the runs it starts (build,
// run, vm) from their first event, right after the reply, as if it had subscribed from -1; its
// runs:subscribe for such a run (from at or before what was sent) then continues it, sending
// nothing twice.
import { z } from 'zod';
import { errorPayload } from '../errors.js';
import { engineEvent } from '../events.js';
import { buildJob, containerOpJob, imageOpJob, runJob, vmJob } from '../jobs.js';
import type { ContainerOpResult, ImageOpResult } from '../results.js';

/**
 * The handshake's `auth` field by which a client promises to keep every runs:event and runs:done
 * from its first moment, also of runs it does not follow yet (app/src/lib/socket.ts does): the
 * gateway then needs no runs:subscribe round trip before a new run's first event.
 */
export const FOLLOWS_STARTED_RUNS = 'followsStartedRuns';

export const runIdSchema = z.string().regex(/^[A-Za-z0-9_.-]{1,80}$/);

/** A job's fields without the two the gateway fills in (from the cookie, and a fresh id). */
type WithoutIds<T> = T extends unknown ? Omit<T, 'sessionId' | 'runId'> : never;

/** The workspace is the context: the learner picks the Dockerfile and the build's options. */
export const buildRequest = buildJob.pick({ dockerfilePath: true, tags: true, buildArgs: true, noCache: true, target: true }).strict();
export type BuildRequest = z.input<typeof buildRequest>;

/** Checked in full with protocol/jobs.ts's runJob (a limit out of range: container.limitOutOfRange). */
export const runRequest = z.looseObject({}).refine((r) => !('sessionId' in r) && !('runId' in r), 'the session is not part of a message');
export type RunRequest = z.input<ReturnType<typeof runJob.omit<{ sessionId: true; runId: true }>>>;

/** Checked in full with protocol/jobs.ts's vmJob. */
export const vmRequest = z.looseObject({}).refine((r) => !('sessionId' in r) && !('runId' in r), 'the session is not part of a message');
export type VmRequest = z.input<ReturnType<typeof vmJob.omit<{ sessionId: true; runId: true }>>>;

/**
 * A container-op or image-op job without its ids: checked here for its shape, then in full
 * with protocol/jobs.ts's schema once the gateway has added the session and run ids.
 */
const opRequest = z.looseObject({ op: z.string().max(32) }).refine((r) => !('sessionId' in r) && !('runId' in r), 'the session is not part of a message');
export const containerRequest = opRequest;
export type ContainerRequest = WithoutIds<z.input<typeof containerOpJob>>;
export const imageRequest = opRequest;
export type ImageRequest = WithoutIds<z.input<typeof imageOpJob>>;

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
  'runs:vm': { runId: string };
  'runs:container': { runId: string; result: ContainerOpResult };
  'runs:image': { runId: string; result: ImageOpResult };
  'runs:subscribe': object;
  'runs:unsubscribe': object;
}

export const runsRequests = {
  'runs:build': buildRequest,
  'runs:run': runRequest,
  'runs:vm': vmRequest,
  'runs:container': containerRequest,
  'runs:image': imageRequest,
  'runs:subscribe': subscribeRequest,
  'runs:unsubscribe': unsubscribeRequest,
} as const;
