// A session's way-out counts outlive the service that counted them: they are the session's
// record (<data>/sessions/<s>/egress-usage.log), so a worker restart neither forgives a session its
// bytes and time nor lifts a limit it reached. Real parts: Debian's squid, the launcher, busybox's
// wget in a RUN step, Debian's archive (skipped, saying why, when deb.debian.org is unreachable).
import { chmod, mkdtemp, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LearnerError } from '../../../protocol/errors.js';
import { ensureBaseImage } from '../base-images/index.js';
import { createHarness, type Harness } from '../builder/test-support/harness.js';
import { processesMentioning } from '../containers/test-support/harness.js';
import { EgressService, type EgressOptions } from './index.js';
import { reachable } from './test-support/reachable.js';

const online = await reachable('deb.debian.org');
if (!online) console.warn('egress usage tests skipped: deb.debian.org is not reachable from this host');

// About 150 KB, over plain HTTP (busybox's wget has no TLS).
const FETCH = 'FROM busybox\nRUN wget -q -O /dev/null http://deb.debian.org/debian/dists/bookworm/Release\n';

describe.skipIf(!online)("a session's egress counts", () => {
  let h: Harness;
  let dir: string;
  const services: EgressService[] = [];

  async function service(o: Partial<EgressOptions> = {}): Promise<EgressService> {
    const s = new EgressService({ dir, cacheBytes: 64 * 2 ** 20, sessionsDir: join(h.dataDir, 'sessions'), ...o });
    await s.start();
    services.push(s);
    return s;
  }

  async function stop(s: EgressService): Promise<void> {
    await s.stop();
    services.splice(services.indexOf(s), 1);
  }

  beforeAll(async () => {
    h = await createHarness('egress-usage');
    await ensureBaseImage(h.store, 'busybox');
    dir = await mkdtemp('/tmp/lc-egress-usage-');
    await chmod(dir, 0o755); // squid runs as `proxy`
  }, 120_000);

  afterAll(async () => {
    for (const s of services.splice(0)) await s.stop();
    // squid stopped with its last user; no door is left.
    expect(processesMentioning(dir)).toEqual([]);
    expect(await h.leftovers()).toEqual([]);
    await h?.close();
    await rm(dir, { recursive: true, force: true });
  }, 60_000);

  it('survive a restart of the service, from the session’s record', async () => {
    const first = await service();
    await h.build(FETCH, { noCache: true }, h.builderWith({ egress: first }));
    const counted = await first.usage(h.session);
    expect(counted.bytes).toBeGreaterThan(50_000);
    expect(counted.hosts['deb.debian.org']).toBeGreaterThan(50_000);
    expect(counted.ms).toBeGreaterThan(0);
    // As a worker restart: the service ends, a new one starts on the same directories.
    await stop(first);
    const second = await service();
    const after = await second.usage(h.session);
    expect(after.bytes).toBe(counted.bytes);
    expect(after.ms).toBeGreaterThanOrEqual(counted.ms);
    expect(after.hosts).toEqual(counted.hosts);
    // And it counts on from there.
    await h.build(FETCH, { noCache: true }, h.builderWith({ egress: second }));
    expect((await second.usage(h.session)).bytes).toBeGreaterThan(counted.bytes + 50_000);
    // Its lines are appended every half second and at its end: read once it has stopped (a quiet
    // host finished the build and read the file before the next flush).
    await stop(second);
    const lines = (await readFile(join(h.dataDir, 'sessions', h.session, 'egress-usage.log'), 'utf8')).trim().split('\n');
    expect(lines.length).toBeGreaterThan(1);
    // The control: a service that keeps its records elsewhere starts this session from zero.
    const elsewhere = await service({ sessionsDir: join(h.work, 'other-sessions') });
    expect((await elsewhere.usage(h.session)).bytes).toBe(0);
    await stop(elsewhere);
  }, 120_000);

  it('a limit the session reached before the restart still holds after it', async () => {
    const before = await service();
    const used = (await before.usage(h.session)).bytes;
    expect(used).toBeGreaterThan(100_000); // the test above's
    await stop(before);
    // Restarted with a bound the session is already past.
    const bounded = await service({ session: { bytes: used - 1 } });
    const failed = await h.buildFails(FETCH, { noCache: true }, h.builderWith({ egress: bounded }));
    expect(failed.error).toBeInstanceOf(LearnerError);
    expect((failed.error as LearnerError).key).toBe('egress.limit');
    // The control: another session, with nothing counted yet, fetches under the same bound.
    const other = await h.build(FETCH, { noCache: true, session: 'neighbour' }, h.builderWith({ egress: bounded }));
    expect(other.imageId).toMatch(/^sha256:/);
    expect((await bounded.usage('neighbour')).bytes).toBeGreaterThan(50_000);
  }, 120_000);
});
