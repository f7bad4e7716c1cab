// The tests' Redis: the run's real server (redis-global-setup.ts), and a key prefix of each
// test's own so files running in parallel never see each other's queues, hosts or streams.
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { inject } from 'vitest';
import { connectRedis } from '../../../../queue-client/connection.js';
// The declaration of inject('redisUrl') travels with this module, for projects (app/) that
// type-check it without the globalSetup file.
import type {} from './redis-global-setup.js';

export function testRedisUrl(): string {
  return inject('redisUrl');
}

export function testPrefix(label: string): string {
  return `t-${label}-${randomBytes(4).toString('hex')}`;
}

export function testClient(): Redis {
  return connectRedis(testRedisUrl(), 'layercake-test');
}

/** Every key under a prefix (to check a test left none, and to remove them). */
export async function keysUnder(redis: Redis, prefix: string): Promise<string[]> {
  const found: string[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
    found.push(...keys);
    cursor = next;
  } while (cursor !== '0');
  return found;
}

export async function removeKeysUnder(redis: Redis, prefix: string): Promise<void> {
  const keys = await keysUnder(redis, prefix);
  if (keys.length > 0) await redis.del(...keys);
}
