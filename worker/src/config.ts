// Every environment variable the engine's processes read, in one place, validated once at
// start-up: a typo in a deployment fails loudly here instead of as a strange default later.
import { cpus, hostname } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { z } from 'zod';
import { lazySchema } from '../../protocol/lazy-schema.js';
import { hostIdPattern } from '../../queue-client/names.js';
import { DEFAULT_ALLOW_LIST, parseAllowList } from './egress/allow-list.js';
import { containerLimits } from './limits.js';

/** The checkout this file belongs to: defaults live under its .data/. */
export const REPO_ROOT = new URL('../../', import.meta.url).pathname.replace(/\/$/, '');

const GiB = 1024 ** 3;

/** "20G", "512M", "1073741824" → bytes (powers of 1024, as `truncate -s` reads them). */
const byteSize = lazySchema(() =>
  z
    .string()
    .regex(/^\d+(\.\d+)?\s*([KMGT]i?B?)?$/i, 'a size such as 20G, 512M or a number of bytes')
    .transform((text) => {
      const m = /^(\d+(?:\.\d+)?)\s*([KMGT])?/i.exec(text)!;
      const power = m[2] ? 'KMGT'.indexOf(m[2].toUpperCase()) + 1 : 0;
      return Math.floor(Number(m[1]) * 1024 ** power);
    }),
);

const positiveInt = lazySchema(() => z.coerce.number().int().positive());
const path = lazySchema(() =>
  z
    .string()
    .min(1)
    .transform((p) => (isAbsolute(p) ? p : resolve(REPO_ROOT, p))),
);

function defaultHostId(): string {
  const name = hostname().toLowerCase().replace(/[^a-z0-9.-]/g, '-').replace(/^[^a-z0-9]+/, '');
  return (name || 'host').slice(0, 63);
}

/**
 * One variable: its schema, built only when the variable is set (building every one of them was
 * most of what reading the environment cost a `layercake images`), and what it is when unset, as
 * zod's .default() gives it: the value as written, not parsed.
 */
interface Variable<T> {
  schema: () => z.ZodType<T>;
  unset: () => T;
}
const variable = <T>(schema: () => z.ZodType<T>, unset: () => NoInfer<T>): Variable<T> => ({ schema, unset });
const optional = <T>(schema: () => z.ZodType<T>): Variable<T | undefined> => ({ schema, unset: () => undefined });

const variables = {
  /** The engine's data root (image store, containers, launcher state). */
  LAYERCAKE_DATA: variable(() => path, () => join(REPO_ROOT, '.data/engine')),
  /** The sparse filesystem image `npm start` mounts at LAYERCAKE_DATA (for disk quotas). */
  LAYERCAKE_DATA_IMAGE: variable(() => path, () => join(REPO_ROOT, '.data/engine.img')),
  /** Its size: an upper bound; the file only takes what is written. */
  LAYERCAKE_DATA_SIZE: variable(() => byteSize, () => 20 * GiB),
  /** Set to use an existing Redis; otherwise `npm start` runs a private one. */
  REDIS_URL: optional(() => z.string().url()),
  /** Where the private Redis keeps its data (AOF) and its socket. */
  LAYERCAKE_REDIS_DIR: variable(() => path, () => join(REPO_ROOT, '.data/redis')),
  /** Prefix of every BullMQ and Layercake key in Redis. */
  LAYERCAKE_REDIS_PREFIX: variable(() => z.string().regex(/^[A-Za-z0-9_.-]+$/), () => 'layercake'),
  /** This host's name in the registry and its queue's name; default from the hostname. */
  LAYERCAKE_HOST_ID: variable(() => z.string().regex(hostIdPattern, 'lowercase letters, digits, "." and "-"'), defaultHostId),
  /**
   * Longest a container on this host runs per start, in use or not (a classroom may want short
   * runs); 0: no limit. Learners cannot change it.
   */
  LAYERCAKE_CONTAINER_TIME_LIMIT_MS: variable(() => z.coerce.number().int().nonnegative(), () => containerLimits.timeLimitMs),
  /** Jobs run at once on this host. */
  LAYERCAKE_CONCURRENCY: variable(() => positiveInt, () => Math.max(1, cpus().length)),
  /** On SIGTERM/SIGINT, running jobs get this long to finish before they are re-queued. */
  LAYERCAKE_SHUTDOWN_GRACE_MS: variable(() => z.coerce.number().int().nonnegative(), () => 30_000),
  /** How often the host renews its registry entry; the entry lives three times as long. */
  LAYERCAKE_HEARTBEAT_MS: variable(() => positiveInt, () => 5_000),
  /** The container launcher. */
  LAYERCAKE_LAUNCHER: variable(() => path, () => join(REPO_ROOT, 'sandbox-native/build/sandbox-native')),
  /** Host uid of the first container id range (each range is 65536 ids; see runtime/id-ranges.ts). */
  LAYERCAKE_ID_RANGE_BASE: variable(() => z.coerce.number().int().min(65536), () => 200_000),
  /** Base images `npm start` makes sure of (comma-separated: busybox, debian). */
  LAYERCAKE_BASE_IMAGES: variable(
    () =>
      z
        .string()
        .transform((s) => s.split(',').map((x) => x.trim()).filter(Boolean))
        .pipe(z.array(z.enum(['busybox', 'debian', 'node']))),
    () => ['busybox' as const, 'debian' as const],
  ),
  /** RUN steps reach package archives through the host's squid ("off": loopback only). */
  LAYERCAKE_EGRESS: variable(() => z.enum(['on', 'off']), () => 'on' as const),
  /** Containers too (not only RUN steps) reach package archives, when their run job allows it ("off": a refusing door). */
  LAYERCAKE_CONTAINER_EGRESS: variable(() => z.enum(['on', 'off']), () => 'on' as const),
  /** squid's cache and config, and the sessions' sockets (default: egress/ in the data root, one squid per engine). */
  LAYERCAKE_EGRESS_DIR: optional(() => path),
  /** The archives a step may reach: host names, or .domain for a domain and its subdomains. */
  LAYERCAKE_EGRESS_ALLOW: variable(
    () =>
      z.string().transform((text, ctx) => {
        try {
          return parseAllowList(text);
        } catch (err) {
          ctx.addIssue({ code: 'custom', message: (err as Error).message });
          return z.NEVER;
        }
      }),
    () => parseAllowList(DEFAULT_ALLOW_LIST.join(',')),
  ),
  /** The proxy's disk cache bound. */
  LAYERCAKE_EGRESS_CACHE_SIZE: variable(() => byteSize, () => 2 * GiB),
  /**
   * A PEM file of CA certificates RUN steps and containers trust besides the public roots, for a
   * host whose way out intercepts TLS (egress/trust.ts).
   */
  LAYERCAKE_EGRESS_CA: optional(() => path),
  /** The host's registry blob cache (<data>/registry-cache): least recently used blobs not in use go beyond it. */
  LAYERCAKE_REGISTRY_CACHE_SIZE: variable(() => byteSize, () => 4 * GiB),
  LAYERCAKE_LOG_LEVEL: variable(() => z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']), () => 'info' as const),
  /**
   * The port of this host's terminal endpoint, which browsers reach directly (terminals/README.md);
   * 0: any free port. `npm start` passes the app's PORT + 1.
   */
  TERMINAL_PORT: variable(() => z.coerce.number().int().min(0).max(65535), () => 3001),
  /** Interface it listens on (all by default, as the app's). */
  TERMINAL_HOST: optional(() => z.string().min(1)),
  /** The address browsers use for it behind a proxy; default: the app's host name, TERMINAL_PORT. */
  TERMINAL_PUBLIC_URL: optional(() => z.string().url().regex(/^(https?|wss?):\/\//, 'an http(s) or ws(s) URL')),
};
type VariableName = keyof typeof variables;
type Settings = { [K in VariableName]: (typeof variables)[K] extends Variable<infer T> ? T : never };

export type EngineConfig = Readonly<{
  dataDir: string;
  dataImage: string;
  dataSizeBytes: number;
  redisUrl: string | undefined;
  redisDir: string;
  redisPrefix: string;
  hostId: string;
  /** Containers' wall-clock limit per start; null: none. */
  containerTimeLimitMs: number | null;
  concurrency: number;
  shutdownGraceMs: number;
  heartbeatMs: number;
  launcher: string;
  idRangeBase: number;
  baseImages: readonly ('busybox' | 'debian' | 'node')[];
  logLevel: string;
  terminalEndpoint: Readonly<{ port: number; host: string | undefined; publicUrl: string | undefined }>;
  registryCacheBytes: number;
  egress: Readonly<{ enabled: boolean; containers: boolean; dir: string; allow: readonly string[]; cacheBytes: number; extraCa: string | undefined }>;
}>;

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/** Reads and validates the environment. Throws a ConfigError naming every bad variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): EngineConfig {
  // An empty variable means "not set", as shells and compose files often produce them.
  const present = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const set = (Object.keys(variables) as VariableName[]).filter((name) => Object.hasOwn(present, name));
  // None set (a learner's shell): nothing to check, and no schema built (zod's first object schema
  // and parse are milliseconds of a `layercake ps`).
  let given: Partial<Settings> = {};
  if (set.length > 0) {
    const parsed = z.object(Object.fromEntries(set.map((name) => [name, variables[name].schema()]))).safeParse(present);
    if (!parsed.success) {
      const lines = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`);
      throw new ConfigError(`invalid environment:\n${lines.join('\n')}`);
    }
    given = parsed.data as Partial<Settings>;
  }
  const c = Object.fromEntries(
    (Object.keys(variables) as VariableName[]).map((name) => [name, Object.hasOwn(given, name) ? given[name] : variables[name].unset()]),
  ) as Settings;
  return Object.freeze({
    dataDir: c.LAYERCAKE_DATA,
    dataImage: c.LAYERCAKE_DATA_IMAGE,
    dataSizeBytes: c.LAYERCAKE_DATA_SIZE,
    redisUrl: c.REDIS_URL,
    redisDir: c.LAYERCAKE_REDIS_DIR,
    redisPrefix: c.LAYERCAKE_REDIS_PREFIX,
    hostId: c.LAYERCAKE_HOST_ID,
    containerTimeLimitMs: c.LAYERCAKE_CONTAINER_TIME_LIMIT_MS || null,
    concurrency: c.LAYERCAKE_CONCURRENCY,
    shutdownGraceMs: c.LAYERCAKE_SHUTDOWN_GRACE_MS,
    heartbeatMs: c.LAYERCAKE_HEARTBEAT_MS,
    launcher: c.LAYERCAKE_LAUNCHER,
    idRangeBase: c.LAYERCAKE_ID_RANGE_BASE,
    baseImages: Object.freeze([...c.LAYERCAKE_BASE_IMAGES]),
    logLevel: c.LAYERCAKE_LOG_LEVEL,
    terminalEndpoint: Object.freeze({ port: c.TERMINAL_PORT, host: c.TERMINAL_HOST, publicUrl: c.TERMINAL_PUBLIC_URL }),
    registryCacheBytes: c.LAYERCAKE_REGISTRY_CACHE_SIZE,
    egress: Object.freeze({
      enabled: c.LAYERCAKE_EGRESS === 'on',
      containers: c.LAYERCAKE_CONTAINER_EGRESS === 'on',
      dir: c.LAYERCAKE_EGRESS_DIR ?? join(c.LAYERCAKE_DATA, 'egress'),
      allow: Object.freeze([...c.LAYERCAKE_EGRESS_ALLOW]),
      cacheBytes: c.LAYERCAKE_EGRESS_CACHE_SIZE,
      extraCa: c.LAYERCAKE_EGRESS_CA,
    }),
  });
}

/** Where the engine keeps each part under its data root (worker/README.md, "Data on disk"). */
export function enginePaths(dataDir: string) {
  return Object.freeze({
    store: join(dataDir, 'store'),
    containers: join(dataDir, 'containers'),
    sessions: join(dataDir, 'sessions'),
    launcherState: join(dataDir, 'state'),
    idRanges: join(dataDir, 'id-ranges'),
    scratch: join(dataDir, 'scratch'),
  });
}
