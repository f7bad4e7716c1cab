// Every default limit of the engine, in one place, frozen; units in the names.
const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

export const containerLimits = Object.freeze({
  memoryBytes: 256 * MiB,
  pidsMax: 128,
  /** 0.5 CPU: quota per period. */
  cpuQuotaMicros: 50_000,
  cpuPeriodMicros: 100_000,
  /** A container nobody touched for this long is stopped. */
  idleTimeoutMs: 30 * 60 * 1000,
  /**
   * Longest a container runs per start, in use or not: its launcher kills it then (the pane's
   * time-limit notice). An operator's setting (LAYERCAKE_CONTAINER_TIME_LIMIT_MS), never a learner's.
   */
  timeLimitMs: 4 * 60 * 60 * 1000,
  /** Largest single file a process may write (RLIMIT_FSIZE). */
  fileSizeBytes: 1 * GiB,
  /** Bytes a container's (or build step's) writable layer may hold. */
  writableLayerBytes: 1 * GiB,
  stopGraceMs: 10_000,
});

/** What a learner may ask for per container: protocol/limits.ts, the one source the job schemas share. */
export { containerLimitBounds } from '../../protocol/limits.js';
import { buildInputLimits } from '../../protocol/limits.js';

export const buildLimits = Object.freeze({
  stepTimeoutMs: 120_000,
  /** Turning one step's files into a layer (its tar and sha256), after the step ran. */
  layerTimeoutMs: 60_000,
  contextBytes: buildInputLimits.contextBytes,
  dockerfileBytes: buildInputLimits.dockerfileBytes,
  steps: 200,
  /** Lines of a failed RUN's output shown in its error. */
  failedOutputLines: 20,
});

/** `docker commit`: turning a container's writable layer into a layer (its copy, tar and sha256). */
/**
 * The build cache (a session's untagged step images): how many nothing stands on may stay before
 * the oldest go; at the session's image quota they go first, before a build is refused.
 */
export const buildCacheLimits = Object.freeze({
  danglingImagesMax: 8,
});

export const commitLimits = Object.freeze({
  layerTimeoutMs: 60_000,
});

export const sessionQuotas = Object.freeze({
  images: 30,
  containers: 20,
  layerBytes: 4 * GiB,
  /** The memory limits of a session's running containers, summed (so 20 containers cannot take the host). */
  runningMemoryBytes: 2 * GiB,
  /** The pids limits of a session's running containers, summed. */
  runningPids: 1024,
});
