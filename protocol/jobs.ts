// Jobs the gateway puts on a worker host's queue, validated on both sides. One handler per
// job name on the worker. A learner's session is pinned to one host: its images and
// containers live there.
import { z } from 'zod';
import type { LearnerErrorPayload } from './errors.js';

// Lowercase letters and digits: it becomes part of image names (see worker/src/session-images.ts).
const sessionId = z.string().regex(/^[a-z0-9]{1,64}$/);
const runId = z.string().regex(/^[A-Za-z0-9_.-]{1,80}$/);
/** Paths inside a build context: relative, no "..", no NUL. */
const contextPath = z
  .string()
  .min(1)
  .max(1024)
  .refine((p) => !p.startsWith('/') && !p.split('/').includes('..') && !p.includes('\0'), 'a relative path inside the context');

export const buildJob = z.object({
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
});
export type BuildJob = z.infer<typeof buildJob>;

export const runJob = z.object({
  sessionId,
  runId,
  image: z.string().min(1).max(255),
  name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/).optional(),
  cmd: z.array(z.string()).optional(),
  env: z.array(z.string().regex(/^[^=]+=/)).default([]),
  tty: z.boolean().default(true),
  rows: z.number().int().min(1).max(500).default(24),
  cols: z.number().int().min(1).max(500).default(80),
  removeOnExit: z.boolean().default(false),
  memoryBytes: z.number().int().positive().optional(),
  pidsMax: z.number().int().positive().optional(),
  cpus: z.number().positive().max(4).optional(),
});
export type RunJob = z.infer<typeof runJob>;

export const containerOpJob = z.object({
  sessionId,
  runId,
  container: z.string().min(1).max(128),
  op: z.enum(['stop', 'kill', 'rm', 'pause', 'unpause', 'diff', 'commit', 'stats', 'logs']),
  force: z.boolean().default(false),
  signal: z.string().regex(/^(SIG)?[A-Z0-9]+$/).optional(),
  commitTag: z.string().max(255).optional(),
});
export type ContainerOpJob = z.infer<typeof containerOpJob>;

export const jobSchemas = { build: buildJob, run: runJob, 'container-op': containerOpJob } as const;
export type JobName = keyof typeof jobSchemas;

/**
 * How a job ends, as the gateway reads it back: a learner error is a result (the job completed
 * and the learner acts on it); an internal error fails the job with `{kind:'internal', errorId}`.
 */
export type JobOutcome<R> = { ok: true; result: R } | { ok: false; error: LearnerErrorPayload };
