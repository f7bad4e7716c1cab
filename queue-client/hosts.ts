// Which worker hosts are alive, and which host each learner session lives on. A session's
// images and containers exist on one host only, so every job of the session must go to that
// host's queue; a new session goes to the least busy live host.
//
// Liveness is a key per host that expires unless the host renews it (the worker's heartbeat,
// worker/src/queue/heartbeat.ts): a host that dies stops renewing, and after three missed beats
// it is no longer offered to new sessions. Expiry is Redis's clock, so hosts' clocks need not agree.
import type { Redis } from 'ioredis';
import { hostKey, hostQueueName, hostsIndexKey, sessionPinKey } from './names.js';

export interface HostInfo {
  hostId: string;
  queue: string;
  concurrency: number;
  /** Jobs running on it at its last heartbeat. */
  active: number;
  pid: number;
  startedAt: string;
}

/** Hosts whose heartbeat has not expired. Index entries of expired hosts are dropped. */
export async function liveHosts(redis: Redis, prefix: string): Promise<HostInfo[]> {
  const ids = await redis.smembers(hostsIndexKey(prefix));
  if (ids.length === 0) return [];
  const values = await redis.mget(ids.map((id) => hostKey(prefix, id)));
  const live: HostInfo[] = [];
  const dead: string[] = [];
  ids.forEach((id, i) => {
    const v = values[i];
    if (v) live.push(JSON.parse(v) as HostInfo);
    else dead.push(id);
  });
  if (dead.length > 0) await redis.srem(hostsIndexKey(prefix), ...dead);
  return live.sort((a, b) => a.hostId.localeCompare(b.hostId));
}

export class NoLiveHostError extends Error {
  override readonly name = 'NoLiveHostError';
  constructor() {
    super('no worker host is alive: start one with `npm start` or `npm run worker`');
  }
}

export interface SessionHost {
  hostId: string;
  queue: string;
  /** new: first job of the session; pinned: its usual host; moved: its host died, this is another. */
  how: 'new' | 'pinned' | 'moved';
  /** The dead host a moved session was on: its images and containers are not here. */
  previousHostId?: string;
}

export interface PinOptions {
  /** A session unused this long may land elsewhere next time. Renewed on every pick. */
  pinTtlSeconds?: number;
}

const DEFAULT_PIN_TTL_S = 7 * 24 * 3600;

// Replace the pin only if it still names the dead host: two gateways noticing the same dead host
// at once must agree on one new host.
const REPIN = `
local current = redis.call('GET', KEYS[1])
if current == ARGV[1] or current == false then
  redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
  return ARGV[2]
end
redis.call('EXPIRE', KEYS[1], ARGV[3])
return current`;

// The usual case in one round trip: the pin names a host whose entry has not expired; the pin is
// renewed. KEYS[1] the pin; ARGV the host entries' key prefix, the pin's ttl. (The host key is
// made here from the pin: one Redis, as BullMQ's own scripts assume.)
const PINNED_ALIVE = `
local pinned = redis.call('GET', KEYS[1])
if pinned and redis.call('EXISTS', ARGV[1] .. pinned) == 1 then
  redis.call('EXPIRE', KEYS[1], ARGV[2])
  return pinned
end
return false`;

function leastBusy(hosts: HostInfo[]): HostInfo {
  // Free slots first; among equals a random one, so sessions spread across idle hosts.
  const free = (h: HostInfo) => (h.concurrency - h.active) / h.concurrency;
  const best = Math.max(...hosts.map(free));
  const candidates = hosts.filter((h) => free(h) === best);
  return candidates[Math.floor(Math.random() * candidates.length)]!;
}

/** The host a session's next job goes to, pinning the session on first use. */
export async function hostForSession(redis: Redis, prefix: string, sessionId: string, options: PinOptions = {}): Promise<SessionHost> {
  const ttl = options.pinTtlSeconds ?? DEFAULT_PIN_TTL_S;
  const key = sessionPinKey(prefix, sessionId);
  // Every build and run waits for this before its job is added.
  const alive = (await redis.eval(PINNED_ALIVE, 1, key, hostKey(prefix, ''), String(ttl))) as string | null;
  if (alive) return { hostId: alive, queue: hostQueueName(alive), how: 'pinned' };
  const [hosts, pinned] = await Promise.all([liveHosts(redis, prefix), redis.get(key)]);
  if (pinned !== null && hosts.some((h) => h.hostId === pinned)) {
    // Renewing a pin of days need not hold the job back; it is sent now, on this connection.
    void redis.expire(key, ttl).catch(() => undefined);
    return { hostId: pinned, queue: hostQueueName(pinned), how: 'pinned' };
  }
  if (hosts.length === 0) throw new NoLiveHostError();
  const choice = leastBusy(hosts).hostId;
  if (pinned === null) {
    // NX: another gateway may have pinned the session a moment ago; its choice wins.
    const set = await redis.set(key, choice, 'EX', ttl, 'NX');
    const hostId = set === 'OK' ? choice : ((await redis.get(key)) ?? choice);
    return { hostId, queue: hostQueueName(hostId), how: 'new' };
  }
  const hostId = (await redis.eval(REPIN, 1, key, pinned, choice, String(ttl))) as string;
  return { hostId, queue: hostQueueName(hostId), how: 'moved', previousHostId: pinned };
}

/** The host a session is pinned to, if any (live or not). */
export async function pinnedHost(redis: Redis, prefix: string, sessionId: string): Promise<string | null> {
  return redis.get(sessionPinKey(prefix, sessionId));
}
