// Containers outlive the `run` job that started them (they live under their own launcher
// monitors), so their exit reaches the learner through this watch: it attaches to each
// container's launcher (a plain watcher, not learner activity) and, when the container exits,
// records it and emits container.exited on the run's event stream: the one place a run's exit is
// told (Containers.wait only reads). Which run a container belongs
// to is kept in Redis, so a restarted worker resumes watching.
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { EventBody } from '../../../protocol/events.js';
import { Containers, shortId } from '../containers/index.js';
import type { Attachment } from '../runtime/container-runtime.js';
import type { Engine } from './engine.js';
import { containerRunsKey } from '../../../queue-client/names.js';
import { RedisRunEvents } from './run-events.js';

interface Watched {
  session: string;
  runId: string;
}

export class ContainerWatch {
  private readonly attachments = new Map<string, Attachment>();
  private closed = false;

  constructor(
    private readonly engine: Engine,
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly hostId: string,
    private readonly log: Logger,
  ) {}

  private get key(): string {
    return containerRunsKey(this.prefix, this.hostId);
  }

  /** Watch a container this host started for a run. */
  async watch(containerId: string, session: string, runId: string): Promise<void> {
    await this.redis.hset(this.key, containerId, JSON.stringify({ session, runId } satisfies Watched));
    await this.follow(containerId, { session, runId });
  }

  /** After a restart: watch again what a previous worker watched (settling what exited meanwhile). */
  async resume(): Promise<void> {
    for (const [containerId, json] of Object.entries(await this.redis.hgetall(this.key))) {
      await this.follow(containerId, JSON.parse(json) as Watched);
    }
  }

  private async follow(containerId: string, w: Watched): Promise<void> {
    if (this.closed || this.attachments.has(containerId)) return;
    let attachment: Attachment;
    try {
      attachment = await this.engine.runtime.attach(shortId(containerId), { watch: true });
    } catch {
      // No launcher to attach to: it has exited (or never started). Settle now.
      await this.settle(containerId, w);
      return;
    }
    this.attachments.set(containerId, attachment);
    attachment.on('close', () => {
      this.attachments.delete(containerId);
      if (!this.closed) void this.settle(containerId, w);
    });
  }

  private async settle(containerId: string, w: Watched): Promise<void> {
    try {
      const events = await RedisRunEvents.open(this.redis, this.prefix, w.runId);
      // What settling makes the containers API say (a --rm container's container.removed) comes
      // after the exit it follows from.
      const held: EventBody[] = [];
      // `wait` records the exit if nobody did yet and returns at once, the launcher being gone; it
      // announces nothing itself: this watch tells the run, once. A container removed meanwhile
      // (rm -f) has no exit to tell.
      const exit = await new Containers({ ...this.engine, session: w.session, events: { emit: (e) => held.push(e) } })
        .wait(containerId)
        .catch(() => null);
      if (exit) {
        const { exitCode, oomKilled, timedOut, signal } = exit;
        events.emit({ type: 'container.exited', containerId, exitCode, oomKilled, timedOut, ...(signal ? { signal } : {}) });
      }
      for (const e of held) events.emit(e);
      await events.flush();
      await this.redis.hdel(this.key, containerId);
    } catch (err) {
      this.log.warn({ err, container: containerId, runId: w.runId }, 'could not report a container exit');
    }
  }

  /** Stop watching (the containers keep running; a next worker resumes). */
  close(): void {
    this.closed = true;
    for (const a of this.attachments.values()) a.detach();
    this.attachments.clear();
  }
}
