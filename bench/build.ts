// Build time of a 6-step Dockerfile on busybox (ENV, RUN, COPY, WORKDIR, RUN, CMD): this
// engine's builder against Debian's `buildah bud --layers`, same base image (ours, saved and
// pulled into a private buildah storage), same context, same run, alternating so neither gets a
// warmer machine. Cold: nothing cached (--no-cache on both). Cached: an unchanged rebuild.
//
// The builder runs in this process (the worker's situation: it is a library the queue calls);
// buildah is timed as the command a user runs, so its process start is in its figure. buildah
// uses its overlay storage driver and chroot isolation, its fastest setup here; our RUN steps
// run in sandbox-native with every hardening on.
//
// Run: npx tsx bench/build.ts [iterations]     (as root; `npm run bench` runs every bench)
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { ensureBaseImage } from '../worker/src/base-images/index.js';
import { Builder } from '../worker/src/builder/index.js';
import { ImageStore } from '../worker/src/image-store/index.js';
import { sandboxNative } from '../worker/src/runtime/container-runtime.js';
import { IdRangeAllocator } from '../worker/src/runtime/id-ranges.js';

const iterations = Number(process.argv[2] ?? 5);
const repo = new URL('..', import.meta.url).pathname;
const launcher = join(repo, 'sandbox-native/build/sandbox-native');
// On disk, not tmpfs, for both: layers are files on the host's filesystem in production.
const dir = '/var/tmp/layercake-bench/build';

const DOCKERFILE = `FROM busybox
ENV GREETING=hello
RUN echo "$GREETING" > /greeting && mkdir -p /srv
COPY app.txt /srv/
WORKDIR /srv
RUN wc -c app.txt > size && cat size
CMD ["cat", "/greeting"]
`;

function buildah(...args: string[]): void {
  execFileSync('buildah', ['--root', join(dir, 'buildah/root'), '--runroot', join(dir, 'buildah/run'), '--storage-driver', 'overlay', ...args], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
}

function timed(fn: () => void): number {
  const started = performance.now();
  fn();
  return performance.now() - started;
}

async function timedAsync(fn: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await fn();
  return performance.now() - started;
}

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

if (!existsSync(launcher)) throw new Error(`build the launcher first: make -C sandbox-native (${launcher} is missing)`);
if (process.getuid?.() !== 0) throw new Error('run as root: builds start sandboxes and mount overlays');
rmSync(dir, { recursive: true, force: true });
mkdirSync(join(dir, 'context'), { recursive: true });
writeFileSync(join(dir, 'context/app.txt'), 'the application\n');
writeFileSync(join(dir, 'context/Dockerfile'), DOCKERFILE);

const store = await ImageStore.open(join(dir, 'engine/store'));
await ensureBaseImage(store, 'busybox');
const builder = new Builder({
  store,
  dataDir: join(dir, 'engine'),
  runtime: sandboxNative(launcher, join(dir, 'engine/state')),
  idRanges: new IdRangeAllocator({ dir: join(dir, 'engine/id-ranges'), baseId: 1_850_000_000, maxRanges: 16 }),
});
const request = { session: 'bench', contextDir: join(dir, 'context') };

await store.save(['busybox'], join(dir, 'busybox.tar'));
buildah('pull', '-q', `docker-archive:${join(dir, 'busybox.tar')}`);
const bud = (...extra: string[]) => buildah('bud', '--layers', '--isolation', 'chroot', '--pull=never', '-q', ...extra, '-t', 'bench', join(dir, 'context'));

// One untimed round each: file caches, the seccomp cache, buildah's first-use setup.
await builder.build({ ...request, noCache: true });
bud('--no-cache');

const ours = { cold: [] as number[], cached: [] as number[] };
const peer = { cold: [] as number[], cached: [] as number[] };
for (let i = 0; i < iterations; i++) {
  ours.cold.push(await timedAsync(() => builder.build({ ...request, noCache: true })));
  peer.cold.push(timed(() => bud('--no-cache')));
  ours.cached.push(await timedAsync(() => builder.build(request)));
  peer.cached.push(timed(() => bud()));
}

const fmt = (ms: number) => `${ms.toFixed(0).padStart(6)} ms`;
const row = (name: string, values: number[]) =>
  `  ${name.padEnd(22)} median ${fmt(median(values))}   min ${fmt(Math.min(...values))}   max ${fmt(Math.max(...values))}`;
console.log(`build of a 6-step Dockerfile on busybox, ${iterations} iterations`);
console.log(row('layercake cold', ours.cold));
console.log(row('buildah cold', peer.cold));
console.log(row('layercake cached', ours.cached));
console.log(row('buildah cached', peer.cached));
console.log(`  ratio cold   layercake/buildah = ${(median(ours.cold) / median(peer.cold)).toFixed(3)}  (target ≤ 0.5)`);
console.log(`  ratio cached layercake/buildah = ${(median(ours.cached) / median(peer.cached)).toFixed(3)}  (target: layercake cached ≤ 100 ms: ${median(ours.cached) <= 100 ? 'met' : 'NOT met'})`);

buildah('rm', '--all');
buildah('rmi', '--all', '--force');
rmSync(dir, { recursive: true, force: true });
