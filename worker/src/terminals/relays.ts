// The terminal relays of one worker host. A gateway asks for a container's terminal on the host's
// request stream (queue-client/terminal-streams.ts); the engine checks the container is the
// asking session's, one relay per container starts (or is found), and the answer goes back on
// the request's reply list. Which containers are relayed is kept in Redis, so a restarted worker
// attaches to them again; a relay ends when its container exits or nobody watched for a while.
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { LearnerError } from '../../../protocol/errors.js';
import { closeRedis, connectRedis } from '../../../queue-client/connection.js';
import {
  replyToRequest,
  terminalKeys,
  terminalSession,
  type TerminalRequest,
  type TerminalRequestReply,
} from '../../../queue-client/terminal-streams.js';
import { Containers, type ContainerAttachment, type ContainerEngine } from '../containers/index.js';
import { newErrorId } from '../queue/outcome.js';
import { Relay, type RelayLimits } from './relay.js';

/** How long a terminal request waits for a created container's start (inside the gateway's 10 s request timeout). */
const CREATED_WAIT_MS = 8_000;

export interface TerminalRelaysOptions {
  engine: ContainerEngine;
  redisUrl: string;
  prefix: string;
  hostId: string;
  log: Logger;
  limits?: Partial<RelayLimits>;
}

export class TerminalRelays {
  private readonly relays = new Map<string, Promise<Relay | null>>();
  private readonly redis: Redis;
  private readonly blocking: Redis;
  private closed = false;
  private loop: Promise<void> = Promise.resolve();

  private constructor(private readonly options: TerminalRelaysOptions) {
    this.redis = connectRedis(options.redisUrl, `layercake-terminals-${options.hostId}`);
    this.blocking = connectRedis(options.redisUrl, `layercake-terminal-requests-${options.hostId}`);
  }

  /** Resumes the relays a previous worker of this host ran, then serves requests. */
  static async start(options: TerminalRelaysOptions): Promise<TerminalRelays> {
    const relays = new TerminalRelays(options);
    // Requests from now on: the stream's last id before resuming, so none is missed meanwhile.
    const last = await relays.redis.xrevrange(terminalKeys.requests(options.prefix, options.hostId), '+', '-', 'COUNT', 1);
    const resumed = await relays.redis.hgetall(terminalKeys.relays(options.prefix, options.hostId));
    for (const [containerId, session] of Object.entries(resumed)) {
      const relay = await relays.relayFor(containerId, session, true);
      if (!relay) await relays.redis.hdel(terminalKeys.relays(options.prefix, options.hostId), containerId);
    }
    if (Object.keys(resumed).length) options.log.info({ resumed: Object.keys(resumed).length }, 'terminal relays resumed');
    relays.loop = relays.serve(last[0]?.[0] ?? '0-0');
    return relays;
  }

  private async serve(fromId: string): Promise<void> {
    const key = terminalKeys.requests(this.options.prefix, this.options.hostId);
    let lastId = fromId;
    while (!this.closed) {
      let reply: [string, [string, string[]][]][] | null;
      try {
        reply = (await this.blocking.xread('COUNT', 64, 'BLOCK', 5000, 'STREAMS', key, lastId)) as typeof reply;
      } catch (err) {
        if (this.closed) return;
        this.options.log.warn({ err }, 'terminal requests read failed; retrying');
        await new Promise((r) => setTimeout(r, 500));
        continue;
      }
      for (const [id, fields] of reply?.[0]?.[1] ?? []) {
        lastId = id;
        void this.answer(fields[fields.indexOf('request') + 1]);
      }
    }
  }

  private async answer(json: string | undefined): Promise<void> {
    let request: TerminalRequest;
    try {
      request = JSON.parse(json ?? '') as TerminalRequest;
      if (typeof request.requestId !== 'string' || typeof request.sessionId !== 'string' || typeof request.container !== 'string') throw new Error('malformed');
    } catch {
      this.options.log.warn({ json }, 'malformed terminal request ignored');
      return;
    }
    const reply = await this.open(request.container, request.sessionId);
    await replyToRequest(this.redis, this.options.prefix, request.requestId, reply).catch((err: unknown) =>
      this.options.log.warn({ err }, 'terminal reply not sent'),
    );
  }

  /**
   * The terminal of `ref` (id, short id or name) for `session`: relayed from now on, or, for a
   * container that exited, its kept output. Another session's container is "not found".
   */
  async open(ref: string, session: string): Promise<TerminalRequestReply> {
    const { log } = this.options;
    try {
      // A live relay of this process the session owns: a VM's serial console (the vm job adopted
      // it under the VM's id; VMs are no containers to look up).
      if (this.relays.has(ref) && (await terminalSession(this.redis, this.options.prefix, ref)) === session) return { ok: true, containerId: ref };
      const containers = this.containersOf(session);
      const look = () =>
        containers.inspect(ref).catch(async (err: unknown) => {
          // A removed (--rm) container's terminal stays readable for its session for a while.
          if (err instanceof LearnerError && err.key === 'container.notFound' && (await this.keptFor(ref, session))) return null;
          throw err;
        });
      let info = await look();
      // The page shows a terminal as soon as the run job has created the container; the job
      // starts it a moment later. Wait for that start instead of refusing a container about to run.
      for (const until = Date.now() + CREATED_WAIT_MS; info?.status === 'created' && Date.now() < until; ) {
        await new Promise((r) => setTimeout(r, 100));
        info = await look();
      }
      if (!info) return { ok: true, containerId: ref };
      if (info.status === 'running' || info.status === 'paused') {
        const relay = await this.relayFor(info.id, session, false);
        if (relay) return { ok: true, containerId: info.id };
      }
      if (await this.keptFor(info.id, session)) return { ok: true, containerId: info.id };
      return { ok: false, error: new LearnerError('container.attachStopped', { ref }).toPayload() };
    } catch (err) {
      if (err instanceof LearnerError) return { ok: false, error: err.toPayload() };
      const errorId = newErrorId();
      log.error({ err, errorId, container: ref }, 'terminal request failed');
      return { ok: false, error: { kind: 'internal', errorId } };
    }
  }

  /** Whether an ended terminal of `containerId` is kept for `session` (its output, its exit). */
  private async keptFor(containerId: string, session: string): Promise<boolean> {
    if ((await terminalSession(this.redis, this.options.prefix, containerId)) !== session) return false;
    return (await this.redis.exists(terminalKeys.output(this.options.prefix, containerId))) === 1;
  }

  private containersOf(session: string): Containers {
    return new Containers({ ...this.options.engine, session });
  }

  /**
   * Relays a container from its start: `attachment` was connected before the container started
   * (Containers.run with attach), so the terminal shows its first output, the shell's prompt.
   */
  async adopt(containerId: string, session: string, attachment: ContainerAttachment): Promise<void> {
    if (this.relays.has(containerId)) attachment.detach();
    else await this.relayFor(containerId, session, false, attachment);
  }

  /** The running relay of a container, started if there is none; null if it cannot attach. */
  private relayFor(containerId: string, session: string, resumed: boolean, attachment?: ContainerAttachment): Promise<Relay | null> {
    const existing = this.relays.get(containerId);
    if (existing) return existing;
    const { redis, options } = this;
    const relay = new Relay({
      containers: this.containersOf(session),
      containerId,
      hostId: options.hostId,
      prefix: options.prefix,
      redis,
      log: options.log,
      resumed,
      ...(attachment ? { attachment } : {}),
      ...(options.limits ? { limits: options.limits } : {}),
    });
    const started = relay.start().then(
      () => relay,
      (err: unknown) => {
        this.relays.delete(containerId);
        void relay.stop({ reason: 'detached' });
        if (!(err instanceof LearnerError)) options.log.warn({ err, container: containerId }, 'terminal relay could not attach');
        return null;
      },
    );
    this.relays.set(containerId, started);
    void relay.ended.then((end) => {
      if (this.relays.get(containerId) === started) this.relays.delete(containerId);
      options.log.info({ container: containerId, ...end }, 'terminal relay ended');
    });
    return started;
  }

  /** The relay of a container in this process (tests look at its flow state). */
  async relay(containerId: string): Promise<Relay | null> {
    return (await this.relays.get(containerId)) ?? null;
  }

  /** Stops serving: relays detach and stay registered, for this host's next worker to resume. */
  async close(): Promise<void> {
    this.closed = true;
    this.blocking.disconnect();
    await this.loop;
    const relays = await Promise.all(this.relays.values());
    await Promise.all(relays.map((r) => r?.stop({ reason: 'detached' })));
    await closeRedis(this.redis);
  }
}
