// Host registry and session pinning against the run's real Redis.
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hostForSession, liveHosts, NoLiveHostError, pinnedHost } from '../../../queue-client/hosts.js';
import { HostHeartbeat } from './heartbeat.js';
import { keysUnder, removeKeysUnder, testClient, testPrefix } from './test-support/redis.js';

const redis = testClient();
const prefix = testPrefix('hosts');
const beats: HostHeartbeat[] = [];

function host(id: string, concurrency = 2, intervalMs = 1000): HostHeartbeat {
  const beat = new HostHeartbeat(redis, prefix, id, concurrency, intervalMs);
  beats.push(beat);
  return beat;
}

beforeAll(async () => {
  await redis.ping();
});

afterAll(async () => {
  for (const b of beats) await b.stop();
  await removeKeysUnder(redis, prefix);
  expect(await keysUnder(redis, prefix)).toEqual([]);
  await redis.quit();
});

describe('host registry', () => {
  it('lists a host while it beats', async () => {
    const a = host('reg-a', 2, 100); // its entry expires 300 ms after its last beat
    await a.start();
    await sleep(500); // longer than the expiry: only the beats keep it listed
    expect((await liveHosts(redis, prefix)).map((h) => h.hostId)).toContain('reg-a');
    await a.stop();
  });
  // A host that dies without leaving is dropped when its entry expires: see host-worker.test.ts
  // (a worker process killed with SIGKILL).

  it('a stopped host leaves the registry at once', async () => {
    const b = host('reg-b');
    await b.start();
    expect((await liveHosts(redis, prefix)).map((h) => h.hostId)).toContain('reg-b');
    await b.stop();
    expect((await liveHosts(redis, prefix)).map((h) => h.hostId)).not.toContain('reg-b');
  });
});

describe('session pinning', () => {
  it('refuses when no host is alive', async () => {
    const lonely = testPrefix('nohost');
    await expect(hostForSession(redis, lonely, 's1')).rejects.toBeInstanceOf(NoLiveHostError);
    expect(await keysUnder(redis, lonely)).toEqual([]);
  });

  it('pins a new session to the least busy host and keeps it there', async () => {
    const busy = host('pin-busy', 2);
    const idle = host('pin-idle', 2);
    busy.setActive(2);
    await busy.start();
    await idle.start();
    const first = await hostForSession(redis, prefix, 'learner1');
    expect(first).toMatchObject({ hostId: 'pin-idle', queue: 'host.pin-idle', how: 'new' });
    // Load changes; the session stays where its images are.
    idle.setActive(2);
    busy.setActive(0);
    await idle.beat();
    await busy.beat();
    for (let i = 0; i < 5; i++) expect(await hostForSession(redis, prefix, 'learner1')).toMatchObject({ hostId: 'pin-idle', how: 'pinned' });
    // A new session now goes to the idle one.
    expect((await hostForSession(redis, prefix, 'learner2')).hostId).toBe('pin-busy');
    await busy.stop();
    await idle.stop();
  });

  it('moves a session whose host died, and says from where', async () => {
    const gone = host('move-gone');
    await gone.start();
    expect((await hostForSession(redis, prefix, 'mover')).hostId).toBe('move-gone');
    await gone.stop();
    const other = host('move-other');
    await other.start();
    const moved = await hostForSession(redis, prefix, 'mover');
    expect(moved).toMatchObject({ hostId: 'move-other', how: 'moved', previousHostId: 'move-gone' });
    expect(await pinnedHost(redis, prefix, 'mover')).toBe('move-other');
    await other.stop();
  });

  it('two gateways pinning the same new session at once agree on one host', async () => {
    const hosts = ['race-a', 'race-b', 'race-c', 'race-d'].map((id) => host(id));
    for (const h of hosts) await h.start();
    for (let n = 0; n < 10; n++) {
      const picks = await Promise.all(Array.from({ length: 6 }, () => hostForSession(redis, prefix, `race${n}`)));
      expect(new Set(picks.map((p) => p.hostId)).size).toBe(1);
    }
    for (const h of hosts) await h.stop();
  });
});
