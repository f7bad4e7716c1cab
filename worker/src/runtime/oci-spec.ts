// The hardened OCI runtime config (config.json) for one Layercake container.
//
// Both sandbox-native and runc read what this module writes, so it sticks to the OCI
// runtime spec (https://github.com/opencontainers/runtime-spec, config.md and
// config-linux.md) and puts Layercake-only wishes into annotations that runc ignores.
// sandbox-native enforces most of this on its own as well (see sandbox-native/README.md);
// writing it here too keeps runc, used for comparison, just as locked down.

import { mkdirSync, readFileSync, readdirSync, existsSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { lazySchema } from '../../../protocol/lazy-schema.js';

// ---- the subset of the OCI runtime spec we produce ---------------------------------

export interface OciMount {
  destination: string;
  type?: string;
  source?: string;
  options?: string[];
}

export interface OciIdMapping {
  containerID: number;
  hostID: number;
  size: number;
}

export interface OciRlimit {
  type: `RLIMIT_${string}`;
  soft: number;
  hard: number;
}

export interface OciDeviceRule {
  allow: boolean;
  type?: 'a' | 'c' | 'b';
  major?: number;
  minor?: number;
  access?: string;
}

export interface OciSeccompArg {
  index: number;
  value: number;
  valueTwo?: number;
  op: string;
}

export interface OciSeccompRule {
  names: string[];
  action: string;
  errnoRet?: number;
  args?: OciSeccompArg[];
}

export interface OciSeccomp {
  defaultAction: string;
  defaultErrnoRet?: number;
  architectures?: string[];
  syscalls: OciSeccompRule[];
}

export type OciNamespaceType = 'user' | 'pid' | 'mount' | 'network' | 'uts' | 'ipc' | 'cgroup';

export interface OciSpec {
  ociVersion: string;
  process: {
    terminal: boolean;
    consoleSize?: { height: number; width: number };
    user: { uid: number; gid: number; additionalGids?: number[] };
    args: string[];
    env: string[];
    cwd: string;
    capabilities: {
      bounding: string[];
      effective: string[];
      permitted: string[];
      inheritable: string[];
      ambient: string[];
    };
    rlimits: OciRlimit[];
    noNewPrivileges: boolean;
  };
  root: { path: string; readonly: boolean };
  hostname: string;
  mounts: OciMount[];
  annotations: Record<string, string>;
  linux: {
    uidMappings: OciIdMapping[];
    gidMappings: OciIdMapping[];
    namespaces: { type: OciNamespaceType; path?: string }[];
    cgroupsPath: string;
    resources: {
      devices: OciDeviceRule[];
      memory?: { limit: number; swap: number };
      pids?: { limit: number };
      cpu?: { quota: number; period: number };
    };
    maskedPaths: string[];
    readonlyPaths: string[];
    seccomp?: OciSeccomp;
  };
}

// ---- fixed parts -------------------------------------------------------------------

export const OCI_VERSION = '1.0.2';

/** The only capabilities a container may hold; the same list sandbox-native enforces. */
export const CONTAINER_CAPABILITIES: readonly string[] = Object.freeze([
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_FOWNER',
  'CAP_FSETID',
  'CAP_KILL',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETPCAP',
  'CAP_NET_BIND_SERVICE',
  'CAP_SYS_CHROOT',
  'CAP_SETFCAP',
  'CAP_AUDIT_WRITE',
  'CAP_MKNOD',
]);

export const NAMESPACES: readonly OciNamespaceType[] = Object.freeze([
  'user',
  'pid',
  'mount',
  'network',
  'uts',
  'ipc',
  'cgroup',
]);

// Docker's masked paths: kernel state a container should not read (host keys, timers that
// leak other tenants' activity, firmware tables). Masked with /dev/null or an empty
// read-only tmpfs by the runtime.
export const MASKED_PATHS: readonly string[] = Object.freeze([
  '/proc/acpi',
  '/proc/asound',
  '/proc/interrupts',
  '/proc/kcore',
  '/proc/keys',
  '/proc/latency_stats',
  '/proc/sched_debug',
  '/proc/scsi',
  '/proc/timer_list',
  '/proc/timer_stats',
  '/sys/devices/virtual/powercap',
  '/sys/firmware',
]);

// Kernel knobs that are global to the host even inside namespaces.
export const READONLY_PATHS: readonly string[] = Object.freeze([
  '/proc/bus',
  '/proc/fs',
  '/proc/irq',
  '/proc/sys',
  '/proc/sysrq-trigger',
]);

const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const GiB = 1024 ** 3;

export const ANNOTATION_TIMEOUT_MS = 'io.layercake.timeout-ms';
export const ANNOTATION_LAYERS = 'io.layercake.rootfs.layers';
export const ANNOTATION_UPPER = 'io.layercake.rootfs.upper';

// Device cgroup (v1) allow-list: nothing but the nodes a minimal /dev holds. The tty
// and pts entries let a PTY work; everything else (block devices, /dev/mem, fuse…) is
// refused even if a node for it were somehow created.
function charDevice(major: number, minor: number | undefined): OciDeviceRule {
  return minor === undefined
    ? { allow: true, type: 'c', major, access: 'rwm' }
    : { allow: true, type: 'c', major, minor, access: 'rwm' };
}
export const DEVICE_RULES: readonly OciDeviceRule[] = Object.freeze([
  { allow: false, access: 'rwm' },
  charDevice(1, 3), // null
  charDevice(1, 5), // zero
  charDevice(1, 7), // full
  charDevice(1, 8), // random
  charDevice(1, 9), // urandom
  charDevice(5, 0), // tty
  charDevice(5, 2), // ptmx
  charDevice(136, undefined), // pts/*
]);

// Docker also masks each CPU's thermal_throttle directory (GHSA-6fw5-f8r9-fgfm): it
// exposes counters other tenants move. Which CPUs exist is a property of the host.
let thermalPaths: string[] | undefined;
function thermalThrottlePaths(): string[] {
  if (thermalPaths) return thermalPaths;
  const base = '/sys/devices/system/cpu';
  let entries: string[] = [];
  try {
    entries = readdirSync(base).filter((name) => /^cpu\d+$/.test(name));
  } catch {
    // No sysfs (a build machine, a test of the pure shape): nothing to mask.
  }
  thermalPaths = entries.map((cpu) => `${base}/${cpu}/thermal_throttle`).filter((p) => existsSync(p));
  return thermalPaths;
}

let seccompProfile: OciSeccomp | undefined;
/** The default profile, the same file sandbox-native embeds. Read once. */
export function defaultSeccompProfile(): OciSeccomp {
  if (!seccompProfile) {
    const file = new URL('../../../sandbox-native/profiles/seccomp.json', import.meta.url);
    seccompProfile = JSON.parse(readFileSync(file, 'utf8')) as OciSeccomp;
  }
  // A copy: callers may adjust their spec without touching everybody's profile.
  return structuredClone(seccompProfile);
}

// ---- options -----------------------------------------------------------------------

const containerPath = lazySchema(() => z.string().startsWith('/', 'must be an absolute path inside the container'));
const positiveInt = lazySchema(() => z.number().int().positive());

const rlimitValue = lazySchema(() => z.object({ soft: z.number().int().nonnegative(), hard: z.number().int().nonnegative() }));

export const hardenedSpecOptions = lazySchema(() =>
  z
    .object({
      containerId: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/, 'container id: letters, digits, _ . -'),
      rootfsPath: z.string().min(1),
      args: z.array(z.string()).min(1),
      env: z.array(z.string().regex(/^[^=]+=/, 'env entries are KEY=VALUE')).optional(),
      cwd: containerPath.default('/'),
      terminal: z.boolean().default(false),
      consoleSize: z.object({ rows: positiveInt, cols: positiveInt }).optional(),
      user: z
        .object({ uid: z.number().int().nonnegative(), gid: z.number().int().nonnegative(), additionalGids: z.array(z.number().int().nonnegative()).max(32).optional() })
        .default({ uid: 0, gid: 0 }),
      hostname: z.string().min(1).max(64).default('layercake'),
      readonlyRootfs: z.boolean().default(false),
      // Container uid/gid 0 → hostId. Host id 0 would make container root the host's root.
      idRange: z.object({ hostId: positiveInt, size: positiveInt.default(65536) }),
      memoryBytes: positiveInt.optional(),
      pidsMax: positiveInt.optional(),
      cpuQuotaMicros: positiveInt.optional(),
      cpuPeriodMicros: positiveInt.default(100_000),
      timeoutMs: positiveInt.optional(),
      layers: z.array(z.string().min(1).refine((p) => !p.includes(':'), 'a layer path cannot hold ":"')).optional(),
      upperDir: z.string().min(1).optional(),
      cgroupsPath: z.string().startsWith('/').optional(),
      rlimits: z.record(z.string().regex(/^[A-Z]+$/), rlimitValue).optional(),
      mounts: z
        .array(z.object({ destination: containerPath, type: z.string(), source: z.string(), options: z.array(z.string()).default([]) }))
        .default([]),
      seccomp: z.custom<OciSeccomp>().optional(),
    })
    .refine((o) => o.idRange.size > o.user.uid && o.idRange.size > o.user.gid && (o.user.additionalGids ?? []).every((g) => o.idRange.size > g), {
      message: 'the process user must lie inside the mapped id range',
    })
    .refine((o) => !o.upperDir || o.layers, { message: 'upperDir needs layers' }),
);

export type HardenedSpecOptions = z.input<typeof hardenedSpecOptions>;
/** A mount added to the standard ones (a tmpfs at /tmp, a bind of a build context…). */
export type ExtraMount = NonNullable<HardenedSpecOptions['mounts']>[number];

// ---- the builder -------------------------------------------------------------------

function rlimitsFor(overrides: Record<string, { soft: number; hard: number }> | undefined): OciRlimit[] {
  const limits = new Map<string, { soft: number; hard: number }>([
    ['NOFILE', { soft: 1024, hard: 1024 }],
    ['FSIZE', { soft: GiB, hard: GiB }],
  ]);
  for (const [name, value] of Object.entries(overrides ?? {})) limits.set(name, value);
  // Core dumps would write container memory to a path the host's core_pattern chooses.
  limits.set('CORE', { soft: 0, hard: 0 });
  return [...limits].map(([name, { soft, hard }]) => ({ type: `RLIMIT_${name}` as const, soft, hard }));
}

function standardMounts(): OciMount[] {
  return [
    { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
    {
      destination: '/dev/pts',
      type: 'devpts',
      source: 'devpts',
      // newinstance: the container's own pty numbering, so `tty` says /dev/pts/0 and
      // no host terminal is reachable. gid=5 is the tty group inside.
      options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'],
    },
    { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'] },
    { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
    // The container's own cgroup, read-only, as Docker shows it: a lesson reads its limits
    // (memory.max, memory.limit_in_bytes) from inside. The launcher lays it out (v1 or v2).
    { destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: ['nosuid', 'noexec', 'nodev', 'relatime', 'ro'] },
  ];
}

/** A hardened config.json for one container. Throws a ZodError on bad options. */
export function hardenedSpec(input: HardenedSpecOptions): OciSpec {
  const o = hardenedSpecOptions.parse(input);
  const isRoot = o.user.uid === 0;
  const caps = [...CONTAINER_CAPABILITIES];

  const annotations: Record<string, string> = {};
  if (o.timeoutMs !== undefined) annotations[ANNOTATION_TIMEOUT_MS] = String(o.timeoutMs);
  if (o.layers) annotations[ANNOTATION_LAYERS] = o.layers.join(':');
  if (o.upperDir) annotations[ANNOTATION_UPPER] = o.upperDir;

  const env = o.env ?? [`PATH=${DEFAULT_PATH}`];
  if (o.terminal && !env.some((e) => e.startsWith('TERM='))) env.push('TERM=xterm');

  const resources: OciSpec['linux']['resources'] = { devices: DEVICE_RULES.map((d) => ({ ...d })) };
  // OCI's swap is memory+swap (cgroup v1 memsw): equal to the limit means no swap at all.
  if (o.memoryBytes !== undefined) resources.memory = { limit: o.memoryBytes, swap: o.memoryBytes };
  if (o.pidsMax !== undefined) resources.pids = { limit: o.pidsMax };
  if (o.cpuQuotaMicros !== undefined) resources.cpu = { quota: o.cpuQuotaMicros, period: o.cpuPeriodMicros };

  const mapping = [{ containerID: 0, hostID: o.idRange.hostId, size: o.idRange.size }];

  return {
    ociVersion: OCI_VERSION,
    process: {
      terminal: o.terminal,
      ...(o.consoleSize ? { consoleSize: { height: o.consoleSize.rows, width: o.consoleSize.cols } } : {}),
      user: { uid: o.user.uid, gid: o.user.gid, ...(o.user.additionalGids?.length ? { additionalGids: o.user.additionalGids } : {}) },
      args: o.args,
      env,
      cwd: o.cwd,
      capabilities: {
        bounding: caps,
        // A non-root user holds no capabilities, as after a normal setuid(non-zero).
        effective: isRoot ? caps : [],
        permitted: isRoot ? caps : [],
        // Inheritable and ambient would let capabilities survive execve of unprivileged files.
        inheritable: [],
        ambient: [],
      },
      rlimits: rlimitsFor(o.rlimits),
      noNewPrivileges: true,
    },
    root: { path: o.rootfsPath, readonly: o.readonlyRootfs },
    hostname: o.hostname,
    mounts: [...standardMounts(), ...o.mounts],
    annotations,
    linux: {
      uidMappings: mapping,
      gidMappings: mapping.map((m) => ({ ...m })),
      namespaces: NAMESPACES.map((type) => ({ type })),
      cgroupsPath: o.cgroupsPath ?? `/layercake/${o.containerId}`,
      resources,
      maskedPaths: [...MASKED_PATHS, ...thermalThrottlePaths()],
      readonlyPaths: [...READONLY_PATHS],
      seccomp: o.seccomp ?? defaultSeccompProfile(),
    },
  };
}

/**
 * Write `spec` as `<dir>/config.json` (creating `dir`). Written to a temporary name and
 * renamed, so a runtime never reads half a file. Returns the config path.
 */
export function writeBundle(dir: string, spec: OciSpec): string {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const path = join(dir, 'config.json');
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(spec, null, 2) + '\n', { mode: 0o600 });
  renameSync(tmp, path);
  return path;
}
