// The egress service the worker starts, and a `layercake build` or `run` for its verb: the host's
// squid, and one relay per session that asks for a way out. Build steps get an EgressSession;
// containers a door (forwarder.ts) to their session's relay when the session lets them out, else
// to a relay that refuses everything. A session's counts are kept in its records
// (usage-record.ts), so the worker's and the command line's relays share them and a restart
// keeps them.
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ContainerProcess, ContainerRuntime } from '../runtime/container-runtime.js';
import { DEFAULT_ALLOW_LIST } from './allow-list.js';
import { openDoor, proxyEnv } from './forwarder.js';
import { CONTAINER_CLOSED, SessionRelay, type SessionLimits, type Usage } from './relay.js';
import { runWithEgress } from './run-with-egress.js';
import { Squid, type CacheCounters } from './squid.js';
import { loadTrust, type Trust } from './trust.js';
import { usageRecordPath, UsageRecord } from './usage-record.js';

export { DEFAULT_ALLOW_LIST, isAllowed, parseAllowList } from './allow-list.js';
export { proxyEnv } from './forwarder.js';
export { CONTAINER_CLOSED, REFUSAL_TEXT, type Usage } from './relay.js';

export interface EgressOptions {
  /** squid's config, logs and cache; the sessions' sockets. */
  dir: string;
  allow?: readonly string[];
  cacheBytes?: number;
  session?: Partial<SessionLimits>;
  /** Whether containers (not only build steps) may reach the archives when their session lets them (default true). */
  containers?: boolean;
  /** Where each session's records live (the engine's <data>/sessions): its usage is kept there. */
  sessionsDir: string;
  /**
   * A command line verb's service: its relays are this process's own (sockets named with its
   * pid, no markers for a successor), squid is taken on the first connection and let go at
   * stop(). Without it, the worker's: the sessions' own sockets, listened on again after a restart.
   */
  transient?: boolean;
  /** A PEM file of CA certificates the steps and containers trust besides the public roots (trust.ts). */
  extraCa?: string;
}

export const egressDefaults = Object.freeze({
  cacheBytes: 2 * 1024 ** 3,
  session: Object.freeze({ bytes: 1024 ** 3, ms: 10 * 60_000 }),
});

/** What a build step needs: the environment naming the proxy, and how to run with it. */
export interface EgressSession {
  readonly env: string[];
  /** Files for the step's init layer (the operator's CA: trust.ts). */
  readonly files: readonly { path: string; content: string }[];
  usage(): Usage;
  run(runtime: ContainerRuntime, o: { id: string; bundleDir: string; stepDir: string }): ContainerProcess;
}

/** What a container's launch uses: the proxy's environment, and the door for a created container. */
export interface ContainerEgress {
  readonly env: readonly string[];
  /** Files for the container's init layer (the operator's CA: trust.ts). */
  readonly files: readonly { path: string; content: string }[];
  /** Opens the door of a created container (init `pid`): to its session's relay when `allowed`, else to the closed one. */
  open(o: { session: string; allowed: boolean; pid: number }): Promise<void>;
}

/** The operator's settings (config.ts `EngineConfig`, the part this service reads). */
export interface EgressSettings {
  dataDir: string;
  egress: Readonly<{ dir: string; allow: readonly string[]; cacheBytes: number; containers: boolean; extraCa?: string | undefined }>;
}

/**
 * The service the operator's settings describe over the data root `dataDir` (whose records are
 * in `sessionsDir`): the worker's, or (transient) a command line verb's, whose `--data` may
 * name another root than the configured one.
 */
export function egressServiceFor(config: EgressSettings, o: { dataDir: string; sessionsDir: string; transient?: boolean }): EgressService {
  // LAYERCAKE_EGRESS_DIR when set; else the data root's own (one squid per engine data root).
  const dir = config.egress.dir === join(config.dataDir, 'egress') ? join(o.dataDir, 'egress') : config.egress.dir;
  return new EgressService({
    dir,
    allow: config.egress.allow,
    cacheBytes: config.egress.cacheBytes,
    containers: config.egress.containers,
    sessionsDir: o.sessionsDir,
    transient: o.transient ?? false,
    ...(config.egress.extraCa ? { extraCa: config.egress.extraCa } : {}),
  });
}

export class EgressService {
  private readonly squid: Squid;
  private readonly relays = new Map<string, Promise<SessionRelay>>();
  private closed: SessionRelay | null = null;
  readonly allow: readonly string[];
  private readonly limits: SessionLimits;

  constructor(private readonly o: EgressOptions) {
    this.allow = o.allow ?? DEFAULT_ALLOW_LIST;
    this.limits = { ...egressDefaults.session, ...o.session };
    this.squid = new Squid({ dir: join(o.dir, 'squid'), allow: this.allow, cacheBytes: o.cacheBytes ?? egressDefaults.cacheBytes });
  }

  private squidStarted: Promise<number> | null = null;

  /** squid's port, starting (or joining) it on first use. */
  private upstream = (): Promise<number> => {
    this.squidStarted ??= this.squid.start().then(() => this.squid.port);
    // A failed start is tried again by the next connection.
    this.squidStarted.catch(() => (this.squidStarted = null));
    return this.squidStarted;
  };

  /** The suffix of this process's socket names: none for the worker's, `-<pid>` for a verb's. */
  private get own(): string {
    return this.o.transient ? `-${process.pid}` : '';
  }

  private trust: Trust = { files: [], env: [] };

  async start(): Promise<void> {
    // A bad CA file is the operator's to fix: said at start, not as a failed TLS handshake later.
    if (this.o.extraCa) this.trust = await loadTrust(this.o.extraCa);
    // squid runs as `proxy`: it must traverse this directory (the sessions' sockets below stay 0700).
    await mkdir(this.o.dir, { recursive: true, mode: 0o755 });
    // The worker says at start-up whether squid runs; a verb finds out when a step first asks.
    if (!this.o.transient) await this.upstream();
    if (!this.o.transient) {
      // Containers outlive the worker: their doors keep connecting to the sessions' sockets, so
      // a restarted service listens on every one again, with the session's counts so far.
      // (A closed server removes its socket file, so each relay leaves a `<name>.relay` marker,
      // which names its session.)
      const names = await readdir(join(this.o.dir, 'sessions')).catch(() => [] as string[]);
      for (const file of names) {
        if (!file.endsWith('.relay')) continue;
        const session = (await readFile(join(this.o.dir, 'sessions', file), 'utf8').catch(() => '')).trim();
        this.relayNamed(file.slice(0, -6), session || null);
      }
      await Promise.all([...this.relays.values()].map((r) => r.catch(() => undefined)));
    }
    const closed = new SessionRelay(join(this.o.dir, 'sessions', `closed${this.own}.sock`), {
      upstream: this.upstream,
      allow: [],
      limits: this.limits,
      refusal: CONTAINER_CLOSED,
    });
    await closed.listen();
    this.closed = closed;
  }

  async stop(): Promise<void> {
    for (const r of this.relays.values()) await (await r.catch(() => null))?.close().catch(() => undefined);
    this.relays.clear();
    await this.closed?.close();
    this.closed = null;
    if (this.squidStarted) await this.squidStarted.catch(() => undefined);
    this.squidStarted = null;
    await this.squid.stop();
  }

  /** squid's own port on the host's loopback (for a peer on the host's network, as the bench's Docker). */
  get proxyPort(): number {
    return this.squid.port;
  }

  counters(): Promise<CacheCounters> {
    return this.squid.counters();
  }

  private relayNamed(name: string, session: string | null): Promise<SessionRelay> {
    let relay = this.relays.get(name);
    if (!relay) {
      // A marker of an older checkout names no session: its counts start from zero.
      const record = session === null ? undefined : new UsageRecord(usageRecordPath(this.o.sessionsDir, session));
      const r = new SessionRelay(join(this.o.dir, 'sessions', `${name}${this.own}.sock`), {
        upstream: this.upstream,
        allow: this.allow,
        limits: this.limits,
        ...(record ? { record } : {}),
      });
      relay = r.listen().then(async () => {
        if (!this.o.transient) await writeFile(join(this.o.dir, 'sessions', `${name}.relay`), session ?? '');
        return r;
      });
      this.relays.set(name, relay);
    }
    return relay;
  }

  /** The session's relay, made on first use; its counts are the session's record's. */
  private relayOf(session: string): Promise<SessionRelay> {
    // A unix socket path is at most 107 bytes: the session is hashed into the name.
    return this.relayNamed(createHash('sha256').update(session).digest('hex').slice(0, 24), session);
  }

  async forSession(session: string): Promise<EgressSession> {
    const r = await this.relayOf(session);
    return {
      env: [...proxyEnv(), ...this.trust.env],
      files: this.trust.files,
      usage: () => r.usage(),
      run: (runtime, o) => runWithEgress(runtime, { ...o, socketPath: r.socketPath }),
    };
  }

  /** The session's bytes and time so far (shared by its builds and containers). */
  async usage(session: string): Promise<Usage> {
    return (await this.relayOf(session)).usage();
  }

  forContainers(): ContainerEgress {
    return {
      env: [...proxyEnv(), ...this.trust.env],
      files: this.trust.files,
      open: async ({ session, allowed, pid }) => {
        const letOut = allowed && this.o.containers !== false;
        const socketPath = letOut ? (await this.relayOf(session)).socketPath : this.closed?.socketPath;
        if (socketPath === undefined) throw new Error('the egress service is not started');
        await openDoor(pid, socketPath);
      },
    };
  }
}

