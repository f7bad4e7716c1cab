// Pull of an image of 5 layers (5 × 8 MiB, incompressible) from the project registry on
// loopback: this engine (cold: an empty blob cache and store each time; and warm: a second
// session on the same host, served by the pull-through cache) against `docker pull` of the
// same image from the same registry (its image removed before each run), same run. Docker runs
// as its own dockerd on a private socket.
//
// Run: npx tsx bench/registry-pull.ts [runs]     (as root; needs docker.io and docker-registry)
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ImageStore, type Digest } from '../worker/src/image-store/index.js';
import { ProjectRegistry, publishProjectRegistry, Registries } from '../worker/src/registry/index.js';
import { SessionImages } from '../worker/src/sessions/images.js';
import { noise } from '../worker/src/registry/test-support/noise.js';

const runs = Number(process.argv[2] ?? 5);
const MiB = 1024 * 1024;

function docker(sock: string, config: string, args: string[]): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    const child = spawn('/usr/bin/docker', ['--config', config, '-H', `unix://${sock}`, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('close', (code) => resolve({ code: code ?? -1, out }));
  });
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main(): Promise<void> {
  const work = await mkdtemp(join(tmpdir(), 'bench-registry-pull-'));
  const registry = new ProjectRegistry({ dir: join(work, 'registry'), port: 0 });
  let dockerd: ChildProcess | null = null;
  try {
    await registry.start();
    await publishProjectRegistry(registry);
    const projectDir = join(work, 'registry');

    // The image: 5 layers made in session s1 and pushed.
    const sourceDir = join(work, 'source');
    const source = await ImageStore.open(join(sourceDir, 'store'));
    const s1 = new SessionImages(source, 's1', sourceDir);
    const diffIds: Digest[] = [];
    let parent: Digest | null = null;
    for (let i = 0; i < 5; i++) {
      const dir = join(work, `layer-${i}`);
      await mkdir(dir, { recursive: true });
      await writeFile(join(dir, `file${i}`), noise(8 * MiB, i + 1));
      const { layer } = await source.commitLayer(dir, parent);
      diffIds.push(layer.diffId);
      parent = layer.chainId;
    }
    const image = await source.createImage({ architecture: 'amd64', os: 'linux', config: { Cmd: ['/file0'] }, rootfs: { type: 'layers', diff_ids: diffIds } });
    const name = `${registry.host}/s1/five:v1`;
    await s1.tag(image.id, name);
    await new Registries({ dataDir: sourceDir, store: source, images: s1, projectDir }).push(name);

    const sock = join(work, 'docker.sock');
    const config = join(work, 'docker-config');
    dockerd = spawn('/usr/sbin/dockerd', ['--data-root', join(work, 'docker-data'), '--exec-root', join(work, 'docker-exec'), '--pidfile', join(work, 'docker.pid'), '-H', `unix://${sock}`, '--iptables=false', '--bridge=none'], { stdio: 'ignore' });
    for (let i = 0; i < 300 && (await docker(sock, config, ['info'])).code !== 0; i++) await new Promise((r) => setTimeout(r, 100));
    const login = await docker(sock, config, ['login', registry.host, '-u', 's2', '-p', registry.credentialsFor('s2').password]);
    if (login.code !== 0) throw new Error(login.out);

    const engineCold: number[] = [];
    const engineWarm: number[] = [];
    const dockerCold: number[] = [];
    for (let run = 0; run < runs; run++) {
      // This engine, cold: a new host data dir (empty cache, empty store).
      const dataDir = join(work, `engine-${run}`);
      const store = await ImageStore.open(join(dataDir, 'store'));
      let t = performance.now();
      await new Registries({ dataDir, store, images: new SessionImages(store, 's2', dataDir), projectDir }).pull(name);
      engineCold.push(performance.now() - t);
      // Warm: another session on that host; the blobs come from the host's cache.
      t = performance.now();
      await new Registries({ dataDir, store, images: new SessionImages(store, 's3', dataDir), projectDir }).pull(name);
      engineWarm.push(performance.now() - t);
      await rm(dataDir, { recursive: true, force: true });

      await docker(sock, config, ['rmi', '-f', name]);
      t = performance.now();
      const pulled = await docker(sock, config, ['pull', '-q', name]);
      dockerCold.push(performance.now() - t);
      if (pulled.code !== 0) throw new Error(pulled.out);
    }
    const e = median(engineCold);
    const w = median(engineWarm);
    const d = median(dockerCold);
    console.log(`registry-pull: 5 layers x 8 MiB from ${registry.host}, ${runs} runs, medians`);
    console.log(`  layercake pull (cold cache)        ${e.toFixed(0)} ms`);
    console.log(`  layercake pull (host cache, 2nd session) ${w.toFixed(0)} ms`);
    console.log(`  docker pull (image removed first)  ${d.toFixed(0)} ms`);
    console.log(`  ratio layercake/docker: cold ${(e / d).toFixed(2)}x, cached ${(w / d).toFixed(2)}x`);
  } finally {
    if (dockerd !== null && dockerd.exitCode === null) {
      const exited = new Promise((r) => dockerd!.once('exit', r));
      dockerd.kill('SIGTERM');
      await exited;
    }
    await registry.stop();
    spawnSync('umount', ['-R', join(work, 'docker-data')]);
    await rm(work, { recursive: true, force: true });
  }
}

await main();
