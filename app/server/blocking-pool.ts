// Redis connections for blocking reads (XREAD BLOCK), kept and reused: opening one per run
// subscription cost a connect on every "follow this run" (most of click-to-build-start). A read
// is ended early with CLIENT UNBLOCK from the shared connection, which leaves its connection
// usable, so it goes back to the pool instead of being closed.
import type { Redis } from 'ioredis';

export interface BlockingConnection {
  redis: Redis;
  /** Redis's client id, for CLIENT UNBLOCK. */
  id: number;
}

export class BlockingPool {
  private readonly idle: BlockingConnection[] = [];
  private closed = false;

  constructor(
    private readonly shared: Redis,
    private readonly keepIdle = 16,
  ) {}

  async take(): Promise<BlockingConnection> {
    const kept = this.idle.pop();
    if (kept && kept.redis.status === 'ready') return kept;
    kept?.redis.disconnect();
    const redis = this.shared.duplicate({ connectionName: 'layercake-app-blocking' });
    // Heard here: a lost connection is retried by ioredis and its reads fail on their own.
    redis.on('error', () => undefined);
    const id = Number(await redis.client('ID'));
    return { redis, id };
  }

  /** Ends a blocking read on this connection now (it returns as if it timed out). */
  async unblock(connection: BlockingConnection): Promise<void> {
    await this.shared.client('UNBLOCK', connection.id).catch(() => undefined);
  }

  give(connection: BlockingConnection): void {
    if (this.closed || this.idle.length >= this.keepIdle || connection.redis.status !== 'ready') connection.redis.disconnect();
    else this.idle.push(connection);
  }

  close(): void {
    this.closed = true;
    for (const c of this.idle.splice(0)) c.redis.disconnect();
  }
}
