// Redis connections from one URL. The private Redis `npm start` runs listens only on a unix
// socket (unix:///…/redis.sock), so nothing but this host can reach it; REDIS_URL may name any
// redis:// or rediss:// server for several hosts.
import type { RedisOptions as BullRedisOptions } from 'bullmq';
import { Redis, type RedisOptions } from 'ioredis';

export function redisOptions(url: string): RedisOptions {
  const u = new URL(url);
  const common: RedisOptions = {
    // BullMQ's blocking commands must never be cut short by a retry limit.
    maxRetriesPerRequest: null,
    // Fail fast when the server is gone at start-up instead of queueing commands forever.
    enableOfflineQueue: true,
  };
  if (u.protocol === 'unix:' || u.protocol === 'redis+unix:') return { ...common, path: decodeURIComponent(u.pathname) };
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') throw new Error(`not a Redis URL: ${url}`);
  const db = u.pathname.length > 1 ? Number(u.pathname.slice(1)) : 0;
  return {
    ...common,
    host: u.hostname || '127.0.0.1',
    port: u.port ? Number(u.port) : 6379,
    ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
    ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
    ...(Number.isInteger(db) && db > 0 ? { db } : {}),
    ...(u.protocol === 'rediss:' ? { tls: {} } : {}),
  };
}

/** A plain client (registry, event streams, pins): not shared with BullMQ's blocking ones. */
export function connectRedis(url: string, name = 'layercake'): Redis {
  return new Redis({ ...redisOptions(url), connectionName: name, lazyConnect: false });
}

/** The same options in BullMQ's own type (it creates and duplicates the ioredis clients). */
export function bullmqConnection(url: string): BullRedisOptions {
  return { ...redisOptions(url) } as BullRedisOptions;
}

/**
 * Closes a client: QUIT while connected (the replies still owed arrive first), at once otherwise.
 * A QUIT for a server that is gone waits for a reconnect that may never come: an app told to
 * stop while Redis was down hung until its kill timer.
 */
export async function closeRedis(client: Redis): Promise<void> {
  if (client.status !== 'ready') return client.disconnect();
  await client.quit().catch(() => client.disconnect());
}
