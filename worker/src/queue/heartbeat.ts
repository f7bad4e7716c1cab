// This host's entry in the registry of live hosts (../../../queue-client/hosts.ts reads it): a
// key that expires unless renewed, so a host that dies stops being offered to new sessions after
// three missed beats, by Redis's clock.
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { HostInfo } from '../../../queue-client/hosts.js';
import { hostKey, hostQueueName, hostsIndexKey } from '../../../queue-client/names.js';

export class HostHeartbeat {
  private timer: NodeJS.Timeout | null = null;
  private active = 0;
  private beating: Promise<void> = Promise.resolve();
  private readonly startedAt = new Date().toISOString();

  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    readonly hostId: string,
    private readonly concurrency: number,
    private readonly intervalMs: number,
    private readonly log?: Logger,
  ) {}

  get ttlMs(): number {
    return this.intervalMs * 3;
  }

  /** Registers the host now (so it is offered at once) and keeps renewing. */
  async start(): Promise<void> {
    await this.beat();
    this.timer = setInterval(() => {
      this.beating = this.beat().catch((err: unknown) => this.log?.warn({ err }, 'heartbeat failed'));
    }, this.intervalMs);
    this.timer.unref();
  }

  /** Load reported to pickers at the next beat. */
  setActive(active: number): void {
    this.active = active;
  }

  /** Renews the entry now (start() and the timer call it; so may a load change). */
  async beat(): Promise<void> {
    const info: HostInfo = {
      hostId: this.hostId,
      queue: hostQueueName(this.hostId),
      concurrency: this.concurrency,
      active: this.active,
      pid: process.pid,
      startedAt: this.startedAt,
    };
    await this.redis
      .multi()
      .set(hostKey(this.prefix, this.hostId), JSON.stringify(info), 'PX', this.ttlMs)
      .sadd(hostsIndexKey(this.prefix), this.hostId)
      .exec();
  }

  /** Leaves the registry: no new session is sent here (pinned ones keep their queue). */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.beating;
    await this.redis.multi().del(hostKey(this.prefix, this.hostId)).srem(hostsIndexKey(this.prefix), this.hostId).exec();
  }
}
