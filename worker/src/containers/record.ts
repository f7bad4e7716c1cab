// A container's record on disk: `<data>/containers/<id>/container.json`, beside its writable
// layer, its launcher bundle and its output log. The record is the truth about a container
// between processes (the worker, the command line, a restarted worker): validated with zod on
// every read, replaced atomically on every write.
import { rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { lazySchema } from '../../../protocol/lazy-schema.js';
import { listRecords, makeRecordDir, readRecord as readRecordText } from '../image-store/record-io.js';
import { ID_PATTERN } from './names.js';

const digest = lazySchema(() => z.string().regex(/^sha256:[0-9a-f]{64}$/));
const positiveInt = lazySchema(() => z.number().int().positive());

export const containerLimitsSchema = lazySchema(() =>
  z.object({
    memoryBytes: positiveInt,
    pidsMax: positiveInt,
    cpuQuotaMicros: positiveInt,
    cpuPeriodMicros: positiveInt,
    idleTimeoutMs: positiveInt,
    /** Wall-clock time per start, after which the launcher kills it; absent: none (the operator's choice, or a record from before the limit). */
    timeLimitMs: positiveInt.optional(),
    /** Bytes the writable layer may hold (enforced by the kernel when `diskQuota` says so). */
    writableLayerBytes: positiveInt,
    stopGraceMs: z.number().int().nonnegative(),
  }),
);
export type ContainerLimits = z.infer<typeof containerLimitsSchema>;

/** The network modes a container can have here (no bridge, no host network, no named networks). */
export const NETWORK_MODES = ['default', 'none'] as const;
export type NetworkMode = (typeof NETWORK_MODES)[number];
export const networkMode = lazySchema(() => z.enum(NETWORK_MODES));

export const containerStatus = lazySchema(() => z.enum(['created', 'running', 'exited']));

export const containerRecordSchema = lazySchema(() =>
  z.object({
    version: z.literal(1),
    id: z.string().regex(ID_PATTERN),
    name: z.string().min(1),
    session: z.string().regex(/^[a-z0-9]{1,64}$/),
    created: z.string().datetime(),
    /** The image as the learner named it, and what it resolved to then. */
    image: z.string().min(1),
    imageId: digest,
    config: z.object({
      /** What the container runs: entrypoint then cmd, as Docker composes them. */
      entrypoint: z.array(z.string()).nullable(),
      cmd: z.array(z.string()).nullable(),
      args: z.array(z.string()).min(1),
      env: z.array(z.string()),
      workingDir: z.string().startsWith('/'),
      /** As written (`name`, `uid:gid`…); resolved against the container's files at each start. */
      user: z.string(),
      tty: z.boolean(),
      openStdin: z.boolean(),
      stopSignal: z.string(),
      hostname: z.string(),
      autoRemove: z.boolean(),
      /** Its session lets it reach package archives through the host's proxy (worker/src/egress/). */
      egress: z.boolean().default(false),
      /**
       * `--network`: `none` has loopback and nothing else, not even the door to package archives;
       * `default` (no flag; records from before the flag) has loopback and, where the session
       * lets it out, that door (launch.ts).
       */
      network: networkMode.default('default'),
    }),
    limits: containerLimitsSchema,
    /** Whether the kernel enforces limits.writableLayerBytes (a quota filesystem). */
    diskQuota: z.boolean(),
    state: z.object({
      status: containerStatus,
      startedAt: z.string().nullable(),
      finishedAt: z.string().nullable(),
      exitCode: z.number().int(),
      oomKilled: z.boolean(),
      timedOut: z.boolean(),
      signal: z.string().optional(),
      /** Why the last start failed, in the launcher's words (the command was not found…). */
      error: z.string().optional(),
      /** How many times the container was started. */
      starts: z.number().int().nonnegative(),
    }),
  }),
);
export type ContainerRecord = z.infer<typeof containerRecordSchema>;

/** Where one container's files live. */
export function containerPaths(dataDir: string, id: string) {
  const dir = join(dataDir, 'containers', id);
  return Object.freeze({
    dir,
    record: join(dir, 'container.json'),
    /** Holds upper/ and work/: the directory a disk quota limits (both must be inside it). */
    layer: join(dir, 'layer'),
    upper: join(dir, 'layer', 'upper'),
    work: join(dir, 'layer', 'work'),
    bundle: join(dir, 'bundle'),
    /** The launcher mounts the overlay here, inside the container's own mount namespace only. */
    rootfs: join(dir, 'rootfs'),
    /** overlayfs needs a lower layer; an image without layers gets this empty one. */
    emptyLower: join(dir, 'empty'),
    output: join(dir, 'output.log'),
    /**
     * Its modification time is the container's last activity (start, attach, input, exec): the
     * idle reaper stops containers quiet for too long. A file's time can be bumped by any process
     * without a lock or a read-modify-write of the record.
     */
    activity: join(dir, 'activity'),
  });
}
export type ContainerPaths = ReturnType<typeof containerPaths>;

export function containersDir(dataDir: string): string {
  return join(dataDir, 'containers');
}

/** The record, or null when the container does not exist (or is being created or removed). */
export async function readRecord(dataDir: string, id: string): Promise<ContainerRecord | null> {
  let text: string;
  try {
    text = await readRecordText(containerPaths(dataDir, id).record, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  return containerRecordSchema.parse(JSON.parse(text));
}

/**
 * Replaces the record atomically (a reader never sees half a file). Fails with ENOENT when the
 * container's directory is gone: a removed container is never brought back by a late write.
 */
export async function writeRecord(dataDir: string, record: ContainerRecord): Promise<void> {
  const valid = containerRecordSchema.parse(record);
  const path = containerPaths(dataDir, record.id).record;
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, JSON.stringify(valid, null, 2) + '\n', { mode: 0o600 });
  await rename(tmp, path);
}

/** Every container id with a record, whatever its session. */
export async function listIds(dataDir: string): Promise<string[]> {
  const dir = containersDir(dataDir);
  await makeRecordDir(dir, 0o700);
  return (await listRecords(dir)).filter((name) => ID_PATTERN.test(name));
}

/** Every record (of every session): for the image-users check and the idle reaper. */
export async function readAllRecords(dataDir: string): Promise<ContainerRecord[]> {
  const records: ContainerRecord[] = [];
  for (const id of await listIds(dataDir)) {
    const record = await readRecord(dataDir, id).catch(() => null);
    if (record) records.push(record);
  }
  return records;
}
