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
  /** Largest single file a process may write (RLIMIT_FSIZE). */
  fileSizeBytes: 1 * GiB,
  /** Bytes a container's (or build step's) writable layer may hold. */
  writableLayerBytes: 1 * GiB,
  stopGraceMs: 10_000,
});

/** What a learner may ask for per container (`run -m`, `--pids-limit`, `--cpus`…), inclusive. */
export const containerLimitBounds = Object.freeze({
  memoryBytes: Object.freeze({ min: 6 * MiB, max: 1 * GiB }),
  pidsMax: Object.freeze({ min: 8, max: 1024 }),
  /** CPUs as `--cpus` writes them (quota / period). */
  cpus: Object.freeze({ min: 0.01, max: 2 }),
  idleTimeoutMs: Object.freeze({ min: 10_000, max: 4 * 60 * 60 * 1000 }),
  writableLayerBytes: Object.freeze({ min: 1 * MiB, max: 4 * GiB }),
  stopGraceMs: Object.freeze({ min: 0, max: 5 * 60 * 1000 }),
});

export const buildLimits = Object.freeze({
  stepTimeoutMs: 120_000,
  contextBytes: 50 * MiB,
  dockerfileBytes: 256 * 1024,
  steps: 200,
  /** Lines of a failed RUN's output shown in its error. */
  failedOutputLines: 20,
});

export const sessionQuotas = Object.freeze({
  images: 30,
  containers: 20,
  layerBytes: 4 * GiB,
});
