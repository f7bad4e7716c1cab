// What every job handler gets and returns. A handler reads its input through the protocol schema
// (already parsed by the worker), emits events through `events`, and returns its protocol result; a
// LearnerError it throws becomes the job's result (the learner can act on it), anything else an
// internal failure (see ../outcome.ts).
import type { Logger } from 'pino';
import type { z } from 'zod';
import type { JobName, jobSchemas } from '../../../../protocol/jobs.js';
import type { JobResult } from '../../../../protocol/results.js';
import type { ContainerAttachment } from '../../containers/index.js';
import type { EventSink } from '../../events.js';
import type { Engine } from '../engine.js';

export type JobInput<N extends JobName> = z.output<(typeof jobSchemas)[N]>;

export interface HandlerContext {
  engine: Engine;
  events: EventSink;
  /** Aborted when the job must stop: the worker is shutting down past its grace period. */
  signal: AbortSignal;
  log: Logger;
  /** Stamps of the way to the run's first event, for bench/build-queue-wait.ts (hop-stamps.ts). */
  hops?: { mark(hop: string): void };
  /** Report this container's exit on the run's events after the job has ended. */
  watch?: (containerId: string, session: string, runId: string) => Promise<void>;
  /** Relay this container's terminal from its start (`attachment` was connected before it started). */
  terminal?: (containerId: string, session: string, attachment: ContainerAttachment) => Promise<void>;
}

/** Returns the job's result as protocol/results.ts types it (the worker validates it before storing). */
export type JobHandler<N extends JobName> = (input: JobInput<N>, ctx: HandlerContext) => Promise<JobResult<N>>;
