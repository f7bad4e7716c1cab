// `RUN apt-get update && apt-get install -y curl` on debian:bookworm-slim: this engine (RUN in
// sandbox-native, out through its door (socat), session relay and squid) against Docker's
// `docker build` with the same Dockerfile, the same base image (ours, `docker load`ed) and the
// same squid, in the same run. Docker here runs with --bridge=none (no network of its own), so
// its build uses the host's network and is handed the proxy with --build-arg http_proxy: both
// fetch from Debian's archive through one squid, and neither gets a cache the other lacks.
//
//   cold:   a fresh squid cache, --no-cache (everything from the archive)
//   proxy:  --no-cache again, squid warm (the step runs, its downloads come from squid)
//   cached: an unchanged rebuild (the build cache; nothing runs)
//
// Run: npx tsx bench/apt-build.ts     (as root; needs deb.debian.org, squid and docker.io)
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { ensureBaseImage } from '../worker/src/base-images/index.js';
import { Builder } from '../worker/src/builder/index.js';
import { EgressService } from '../worker/src/egress/index.js';
import { ImageStore } from '../worker/src/image-store/index.js';
import { sandboxNative } from '../worker/src/runtime/container-runtime.js';
import { IdRangeAllocator } from '../worker/src/runtime/id-ranges.js';

const repo = new URL('..', import.meta.url).pathname;
const dir = '/var/tmp/layercake-bench/apt';
const DOCKERFILE = 'FROM debian:bookworm-slim\nRUN apt-get update && apt-get install -y curl\n';

const sock = join(dir, 'docker/docker.sock');
const docker = (...args: string[]): void => {
  execFileSync('docker', ['-H', `unix://${sock}`, ...args], { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, DOCKER_BUILDKIT: '0' } });
};

async function timed(fn: () => unknown): Promise<number> {
  const t = performance.now();
  await fn();
  return Math.round(performance.now() - t);
}

async function startDockerd(): Promise<ChildProcess> {
  mkdirSync(join(dir, 'docker'), { recursive: true });
  const child = spawn('dockerd', ['--data-root', join(dir, 'docker/data'), '--exec-root', join(dir, 'docker/exec'), '-H', `unix://${sock}`,
    '--pidfile', join(dir, 'docker/docker.pid'), '--iptables=false', '--bridge=none'], { stdio: 'ignore' });
  for (let i = 0; i < 150 && !existsSync(sock); i++) await new Promise((r) => setTimeout(r, 200));
  for (let i = 0; i < 50; i++) {
    try {
      docker('info');
      return child;
    } catch {
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  throw new Error('dockerd did not start');
}

async function main(): Promise<void> {
  mkdirSync(dir, { recursive: true });
  chmodSync('/var/tmp/layercake-bench', 0o755);
  chmodSync(dir, 0o755);
  const store = await ImageStore.open(join(dir, 'store')); // kept between runs: mmdebstrap takes a minute
  await ensureBaseImage(store, 'debian');
  const context = join(dir, 'context');
  mkdirSync(context, { recursive: true });
  writeFileSync(join(context, 'Dockerfile'), DOCKERFILE);

  const dockerd = await startDockerd();
  const results: Record<string, Record<string, number>> = { layercake: {}, docker: {} };
  try {
    const archive = join(dir, 'debian.tar');
    await store.save(['debian:bookworm-slim'], archive);
    docker('load', '-i', archive);

    for (const peer of ['layercake', 'docker'] as const) {
      const egressDir = join(dir, `egress-${peer}`);
      rmSync(egressDir, { recursive: true, force: true }); // cold: an empty squid cache
      mkdirSync(egressDir, { mode: 0o755 });
      chmodSync(egressDir, 0o755);
      const egress = new EgressService({ dir: egressDir, sessionsDir: join(dir, 'data', 'sessions') });
      await egress.start();
      try {
        if (peer === 'layercake') {
          const builder = new Builder({
            store, dataDir: join(dir, 'data'), runtime: sandboxNative(join(repo, 'sandbox-native/build/sandbox-native'), join(dir, 'state')),
            idRanges: new IdRangeAllocator({ dir: join(dir, 'id-ranges'), baseId: 1_900_000_000, maxRanges: 16 }), idPrefix: 'aptbench', egress,
          });
          const build = (noCache: boolean) => builder.build({ session: 'bench', contextDir: context, dockerfile: DOCKERFILE, noCache });
          results[peer]!.cold = await timed(() => build(true));
          results[peer]!.proxy = await timed(() => build(true));
          results[peer]!.cached = await timed(() => build(false));
        } else {
          // Docker's build container is on the host's network: the proxy is squid's own port.
          const proxy = `http://127.0.0.1:${egress.proxyPort}`;
          const build = (noCache: boolean) => docker('build', '--network', 'host', '--build-arg', `http_proxy=${proxy}`, ...(noCache ? ['--no-cache'] : []), '-t', 'aptbench', context);
          results[peer]!.cold = await timed(() => build(true));
          results[peer]!.proxy = await timed(() => build(true));
          results[peer]!.cached = await timed(() => build(false));
        }
        const c = await egress.counters();
        results[peer]!.squidRequests = c.requests;
        results[peer]!.squidHits = c.hits;
      } finally {
        await egress.stop();
      }
    }
  } finally {
    dockerd.kill('SIGTERM');
    await new Promise((r) => dockerd.once('exit', r));
  }
  console.log(JSON.stringify(results, null, 1));
  for (const k of ['cold', 'proxy', 'cached'])
    console.log(`${k}: layercake ${results.layercake![k]} ms, docker ${results.docker![k]} ms, ratio ${(results.layercake![k]! / results.docker![k]!).toFixed(2)}`);
}

await main();
