// Per-session rate limits, one token bucket per session and kind of action, kept in Redis so
// every app process draws from the same bucket. A refused action says how long to wait, in the
// learner's language (rateLimited.<kind>).
import type { Redis } from 'ioredis';
import { LearnerError } from '../../protocol/errors.js';

export interface Bucket {
  /** Actions allowed in a burst. */
  burst: number;
  /** Tokens added per second after that. */
  perSecond: number;
}

export const DEFAULT_RATE_LIMITS = Object.freeze({
  builds: { burst: 10, perSecond: 1 / 6 },
  runs: { burst: 10, perSecond: 1 / 6 },
  operations: { burst: 60, perSecond: 2 },
  fileWrites: { burst: 600, perSecond: 20 },
  uploads: { burst: 30, perSecond: 1 },
} satisfies Record<string, Bucket>);

export type RateLimitKind = keyof typeof DEFAULT_RATE_LIMITS;
export type RateLimits = Record<RateLimitKind, Bucket>;

// KEYS[1] bucket hash; ARGV burst, perSecond, cost. Time from Redis itself, so app hosts'
// clocks need not agree. Returns 0 when allowed, else the ms until enough tokens are back.
const TAKE = `
local burst = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or burst
local at = tonumber(state[2]) or now
tokens = math.min(burst, tokens + (now - at) * rate / 1000)
local wait = 0
if tokens >= cost then tokens = tokens - cost else wait = math.ceil((cost - tokens) * 1000 / rate) end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst * 1000 / rate) + 1000)
return wait
`;

export class RateLimiter {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly limits: RateLimits = DEFAULT_RATE_LIMITS,
  ) {}

  /** Takes `cost` tokens or throws rateLimited.<kind> with the seconds to wait. */
  async take(sessionId: string, kind: RateLimitKind, cost = 1): Promise<void> {
    const { burst, perSecond } = this.limits[kind];
    const key = `${this.prefix}:gateway:rate:${kind}:${sessionId}`;
    const wait = Number(await this.redis.eval(TAKE, 1, key, burst, perSecond, cost));
    if (wait > 0) throw new LearnerError(`rateLimited.${kind}`, { seconds: Math.max(1, Math.ceil(wait / 1000)) });
  }
}
