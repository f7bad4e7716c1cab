// The egress service the worker starts: the host's squid, and one relay per session that asks
// for a way out. Build steps (and containers a session allows) get an EgressSession.
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import type { ContainerProcess, ContainerRuntime } from '../runtime/container-runtime.js';
import { DEFAULT_ALLOW_LIST } from './allow-list.js';
import { SessionRelay, type SessionLimits, type Usage } from './relay.js';
import { proxyEnv, runWithEgress } from './run-with-egress.js';
import { Squid, type CacheCounters } from './squid.js';

export { DEFAULT_ALLOW_LIST, isAllowed, parseAllowList } from './allow-list.js';
export { REFUSAL_TEXT, type Usage } from './relay.js';

export interface EgressOptions {
  /** squid's config, logs and cache; the sessions' sockets. */
  dir: string;
  allow?: readonly string[];
  cacheBytes?: number;
  session?: Partial<SessionLimits>;
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

export class EgressService {
  private readonly squid: Squid;
  private readonly relays = new Map<string, Promise<SessionRelay>>();
  readonly allow: readonly string[];
  private readonly limits: SessionLimits;

  constructor(private readonly o: EgressOptions) {
    this.allow = o.allow ?? DEFAULT_ALLOW_LIST;
    this.limits = { ...egressDefaults.session, ...o.session };
    this.squid = new Squid({ dir: join(o.dir, 'squid'), allow: this.allow, cacheBytes: o.cacheBytes ?? egressDefaults.cacheBytes });
  }

  async start(): Promise<void> {
    await this.squid.start();
  }

  async stop(): Promise<void> {
    for (const r of this.relays.values()) await (await r).close().catch(() => undefined);
    this.relays.clear();
    await this.squid.stop();
  }

  /** squid's own port on the host's loopback (for a peer on the host's network, as the bench's Docker). */
  get proxyPort(): number {
    return this.squid.port;
  }

  counters(): Promise<CacheCounters> {
    return this.squid.counters();
  }

  /** The session's relay, made on first use; its counts last as long as this service. */
  async forSession(session: string): Promise<EgressSession> {
    let relay = this.relays.get(session);
    if (!relay) {
      // A unix socket path is at most 107 bytes: the session is hashed into the name.
      const name = createHash('sha256').update(session).digest('hex').slice(0, 24);
      const r = new SessionRelay(join(this.o.dir, 'sessions', `${name}.sock`), this.squid.port, this.allow, this.limits);
      relay = r.listen().then(() => r);
      this.relays.set(session, relay);
    }
    const r = await relay;
    return {
      env: proxyEnv(),
      usage: () => r.usage(),
      run: (runtime, o) => runWithEgress(runtime, { ...o, socketPath: r.socketPath }),
    };
  }
}
