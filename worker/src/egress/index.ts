// The egress service the worker starts: the host's squid, and one relay per session that asks
// for a way out. Build steps get an EgressSession; containers a door (forwarder.ts) to their
// session's relay when the session lets them out, else to a relay that refuses everything.
import { createHash } from 'node:crypto';
import { readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ContainerProcess, ContainerRuntime } from '../runtime/container-runtime.js';
import { DEFAULT_ALLOW_LIST } from './allow-list.js';
import { openDoor, proxyEnv } from './forwarder.js';
import { CONTAINER_CLOSED, SessionRelay, type SessionLimits, type Usage } from './relay.js';
import { runWithEgress } from './run-with-egress.js';
import { Squid, type CacheCounters } from './squid.js';

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
}

export const egressDefaults = Object.freeze({
  cacheBytes: 2 * 1024 ** 3,
  session: Object.freeze({ bytes: 1024 ** 3, ms: 10 * 60_000 }),
});

/** What a build step needs: the environment naming the proxy, and how to run with it. */
export interface EgressSession {
  readonly env: string[];
  usage(): Usage;
  run(runtime: ContainerRuntime, o: { id: string; bundleDir: string; stepDir: string }): ContainerProcess;
}

/** What a container's launch uses: the proxy's environment, and the door for a created container. */
export interface ContainerEgress {
  readonly env: readonly string[];
  /** Opens the door of a created container (init `pid`): to its session's relay when `allowed`, else to the closed one. */
  open(o: { session: string; allowed: boolean; pid: number }): Promise<void>;
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

  async start(): Promise<void> {
    await this.squid.start();
    // Containers outlive the worker: their doors keep connecting to the sessions' sockets, so a
    // restarted service listens on every one again (their counts start from zero).
    // (A closed server removes its socket file, so each relay leaves a `<name>.relay` marker.)
    const names = await readdir(join(this.o.dir, 'sessions')).catch(() => [] as string[]);
    for (const file of names) if (file.endsWith('.relay')) this.relayNamed(file.slice(0, -6));
    await Promise.all(this.relays.values());
    const closed = new SessionRelay(join(this.o.dir, 'sessions', CLOSED_SOCKET), this.squid.port, [], this.limits, CONTAINER_CLOSED);
    await closed.listen();
    this.closed = closed;
  }

  async stop(): Promise<void> {
    for (const r of this.relays.values()) await (await r).close().catch(() => undefined);
    this.relays.clear();
    await this.closed?.close();
    this.closed = null;
    await this.squid.stop();
  }

  /** squid's own port on the host's loopback (for a peer on the host's network, as the bench's Docker). */
  get proxyPort(): number {
    return this.squid.port;
  }

  counters(): Promise<CacheCounters> {
    return this.squid.counters();
  }

  private relayNamed(name: string): Promise<SessionRelay> {
    let relay = this.relays.get(name);
    if (!relay) {
      const r = new SessionRelay(join(this.o.dir, 'sessions', `${name}.sock`), this.squid.port, this.allow, this.limits);
      relay = r.listen().then(async () => {
        await writeFile(join(this.o.dir, 'sessions', `${name}.relay`), '');
        return r;
      });
      this.relays.set(name, relay);
    }
    return relay;
  }

  /** The session's relay, made on first use; its counts last as long as this service. */
  private relayOf(session: string): Promise<SessionRelay> {
    // A unix socket path is at most 107 bytes: the session is hashed into the name.
    return this.relayNamed(createHash('sha256').update(session).digest('hex').slice(0, 24));
  }

  async forSession(session: string): Promise<EgressSession> {
    const r = await this.relayOf(session);
    return {
      env: proxyEnv(),
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
      env: proxyEnv(),
      open: async ({ session, allowed, pid }) => {
        const letOut = allowed && this.o.containers !== false;
        const socketPath = letOut ? (await this.relayOf(session)).socketPath : this.closed?.socketPath;
        if (socketPath === undefined) throw new Error('the egress service is not started');
        await openDoor(pid, socketPath);
      },
    };
  }
}

const CLOSED_SOCKET = 'closed.sock';
