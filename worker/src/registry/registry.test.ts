// Pull and push against the project's real registry (Debian's docker-registry behind the auth
// front), one per suite on free loopback ports, with sessions on one host's data dir.
import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, stat, utimes, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ImageStore, type Digest } from '../image-store/index.js';
import { MediaType } from '../image-store/media-types.js';
import { pinTimes, removeDir, tempDir } from '../image-store/test-support/fixtures.js';
import { SessionImages } from '../sessions/images.js';
import { DistributionClient, endpointFor } from './distribution-client.js';
import { ProjectRegistry, publishProjectRegistry, Registries, registryProcesses } from './index.js';
import { putManifest, upload } from './push.js';
import { noise } from './test-support/noise.js'; // incompressible: the resume test needs a long blob

const MiB = 1024 * 1024;
const execFileP = promisify(execFile);
let work: string;
let registry: ProjectRegistry;
let dataDir: string;
let store: ImageStore;

/** A session on the shared host: its images and its registries. */
function session(name: string, dir = dataDir, st = store): { images: SessionImages; registries: Registries } {
  const images = new SessionImages(st, name, dir);
  return { images, registries: new Registries({ dataDir: dir, store: st, images, projectDir: join(work, 'registry'), retryWindowMs: 20_000 }) };
}

/** An image of `count` layers in session `images`, named `name`. */
async function makeImage(images: SessionImages, name: string, count: number, layerBytes: number, seed: number): Promise<Digest> {
  const diffIds: Digest[] = [];
  let parent: Digest | null = null;
  for (let i = 0; i < count; i++) {
    const dir = join(work, `layer-${seed}-${i}`);
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, `file${i}`), noise(layerBytes, seed * 100 + i));
    await pinTimes(dir);
    const { layer } = await store.commitLayer(dir, parent);
    diffIds.push(layer.diffId);
    parent = layer.chainId;
  }
  const image = await store.createImage({
    architecture: 'amd64',
    os: 'linux',
    config: { Cmd: ['/bin/sh'] },
    rootfs: { type: 'layers', diff_ids: diffIds },
    history: diffIds.map((_, i) => ({ created_by: `ADD file${i} /` })),
  });
  await images.tag(image.id, name);
  return image.id;
}

beforeAll(async () => {
  work = await tempDir('registry');
  registry = new ProjectRegistry({ dir: join(work, 'registry'), port: 0 });
  await registry.start();
  await publishProjectRegistry(registry);
  dataDir = join(work, 'data');
  store = await ImageStore.open(join(dataDir, 'store'));
}, 60_000);

afterAll(async () => {
  await registry?.stop();
  // The registry process is gone with stop() (a leftover once held a clone's port and storage).
  expect(registryProcesses(join(work, 'registry'))).toEqual([]);
  await removeDir(work);
});

describe('the project registry', () => {
  it('dies with the process that started it, even one SIGKILLed before its stop()', async () => {
    const dir = join(work, 'orphaned');
    const module = new URL('./project-registry.ts', import.meta.url).pathname;
    const script = `import { ProjectRegistry } from ${JSON.stringify(module)};\nawait new ProjectRegistry({ dir: ${JSON.stringify(dir)}, port: 0 }).start();\nconsole.log('up');\nsetInterval(() => {}, 1000);`;
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve, reject) => {
      child.stdout!.on('data', (d: Buffer) => d.toString().includes('up') && resolve());
      child.once('exit', (code) => reject(new Error(`the starter exited (${code}) before its registry was up`)));
    });
    expect(registryProcesses(dir)).toHaveLength(1);
    child.kill('SIGKILL');
    for (let i = 0; i < 100 && registryProcesses(dir).length > 0; i++) await new Promise((r) => setTimeout(r, 50));
    expect(registryProcesses(dir)).toEqual([]);
  }, 60_000);

  it('a push from one session pulls in another with identical digests, and a third pull fetches no blob', async () => {
    const s1 = session('s1');
    const name = `${registry.host}/s1/app:v1`;
    const id = await makeImage(s1.images, name, 3, 64 * 1024, 1);
    const pushed = await s1.registries.push(name);

    // Another host's data dir: nothing of s1's image is there.
    const otherDir = join(work, 'other');
    const otherStore = await ImageStore.open(join(otherDir, 'store'));
    const s2 = session('s2', otherDir, otherStore);
    const pulled = await s2.registries.pull(name);
    expect(pulled.digest).toBe(pushed.digest);
    expect(pulled.imageId).toBe(id);
    expect(await s2.images.resolve(name)).toBe(id);
    const original = await store.inspect(id);
    const copy = await otherStore.inspect(id);
    // Layers' diff_ids and sizes, and the history, as the pushing session has them. (Added/changed/
    // deleted counts: the store's load does not count them yet, see README.)
    expect(copy.layers.map((l) => [l.diffId, l.size])).toEqual(original.layers.map((l) => [l.diffId, l.size]));
    expect((await otherStore.history(id)).map((r) => [r.createdBy, r.size])).toEqual((await store.history(id)).map((r) => [r.createdBy, r.size]));
    expect(pulled.layers.every((l) => l.stats.fetchedBytes === l.size)).toBe(true);

    // A third session on that host: every blob comes from the host's cache.
    const s3 = session('s3', otherDir, otherStore);
    const again = await s3.registries.pull(name);
    expect(again.digest).toBe(pushed.digest);
    expect(again.layers.map((l) => l.stats.fetchedBytes)).toEqual([0, 0, 0]);
  }, 60_000);

  it('one session cannot push into another session’s repository, however it spells the path', async () => {
    const s2 = session('s2');
    const target = `${registry.host}/s1/stolen:v1`;
    await makeImage(s2.images, target, 1, 1024, 2);
    await expect(s2.registries.push(target)).rejects.toMatchObject({ key: 'registry.denied' });
    // Control: the same image under s2's own repository is pushed.
    const own = `${registry.host}/s2/mine:v1`;
    await s2.images.tag(await s2.images.resolve(target), own);
    await expect(s2.registries.push(own)).resolves.toMatchObject({ name: own });

    const s2Auth = await s2.registries.credentialsFor(registry.host);
    const s1Auth = await session('s1').registries.credentialsFor(registry.host);
    const post = (path: string, auth: { username: string; password: string } | null) =>
      new Promise<number>((resolve, reject) => {
        const headers: Record<string, string> = auth ? { authorization: `Basic ${Buffer.from(`${auth.username}:${auth.password}`).toString('base64')}` } : {};
        const req = request({ host: '127.0.0.1', port: registry.port, method: 'POST', path, headers }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        req.on('error', reject);
        req.end();
      });
    for (const path of ['/v2/s2/../s1/app/blobs/uploads/', '/v2/s2%2f..%2fs1/app/blobs/uploads/', '/v2/s1/app/blobs/uploads/', '/v2//s1/app/blobs/uploads/', '/v2/s2x/../s1/app/blobs/uploads/']) {
      expect([403, 404]).toContain(await post(path, s2Auth));
    }
    // s1's name with s2's password, or no password at all, is no way in either.
    expect(await post('/v2/s1/app/blobs/uploads/', { username: 's1', password: s2Auth!.password })).toBe(401);
    expect(await post('/v2/s1/app/blobs/uploads/', null)).toBe(401);
    // Control: s1's own credentials open an upload there.
    expect(await post('/v2/s1/app/blobs/uploads/', s1Auth)).toBe(202);
    // And the registry's private port refuses a request without the front's service password.
    const backend = (registry as unknown as { backendPort: number }).backendPort;
    const direct = await new Promise<number>((resolve) => {
      const req = request({ host: '127.0.0.1', port: backend, method: 'POST', path: '/v2/s1/app/blobs/uploads/' }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.end();
    });
    expect(direct).toBe(401);
  }, 60_000);

  it('a manifest list is resolved to its linux/amd64 image', async () => {
    const s1 = session('s1');
    const amd = `${registry.host}/s1/multi:amd64`;
    const arm = `${registry.host}/s1/multi:arm64`;
    const amdId = await makeImage(s1.images, amd, 1, 1024, 3);
    await makeImage(s1.images, arm, 1, 1024, 4);
    const amdPushed = await s1.registries.push(amd);
    const armPushed = await s1.registries.push(arm);
    const index = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaType.ociIndex,
        manifests: [
          { mediaType: MediaType.ociManifest, digest: armPushed.digest, size: armPushed.size, platform: { os: 'linux', architecture: 'arm64' } },
          { mediaType: MediaType.ociManifest, digest: amdPushed.digest, size: amdPushed.size, platform: { os: 'linux', architecture: 'amd64' } },
        ],
      }),
    );
    const client = new DistributionClient(endpointFor(registry.host), registry.credentialsFor('s1'));
    await putManifest(client, 's1/multi', 'latest', MediaType.ociIndex, index);

    const s5 = session('s5');
    const pulled = await s5.registries.pull(`${registry.host}/s1/multi`);
    expect(pulled.digest).toBe(`sha256:${createHash('sha256').update(index).digest('hex')}`);
    expect(pulled.imageId).toBe(amdId);
  }, 60_000);

  it('a zstd-compressed layer is pulled: decompressed with Debian’s zstd, the same diff_id and files as its tar', async () => {
    // The layer as a registry serves zstd: a tar by GNU tar, compressed by Debian's zstd.
    const src = join(work, 'zstd-src');
    await mkdir(src, { recursive: true });
    await writeFile(join(src, 'hello.txt'), 'from a zstd layer\n');
    const tarPath = join(work, 'zstd-layer.tar');
    await execFileP('tar', ['--sort=name', '--owner=0', '--group=0', '--numeric-owner', '--mtime=@0', '-C', src, '-cf', tarPath, '.']);
    await execFileP('zstd', ['-q', '-19', tarPath, '-o', `${tarPath}.zst`]);
    const digestOf = async (path: string) => `sha256:${createHash('sha256').update(await readFile(path)).digest('hex')}` as Digest;
    const diffId = await digestOf(tarPath);
    const layer = { digest: await digestOf(`${tarPath}.zst`), path: `${tarPath}.zst`, size: (await stat(`${tarPath}.zst`)).size };
    const configPath = join(work, 'zstd-config.json');
    await writeFile(configPath, JSON.stringify({ architecture: 'amd64', os: 'linux', config: { Cmd: ['/bin/sh'] }, rootfs: { type: 'layers', diff_ids: [diffId] }, history: [{ created_by: 'a zstd layer' }] }));
    const config = { digest: await digestOf(configPath), path: configPath, size: (await stat(configPath)).size };
    const client = new DistributionClient(endpointFor(registry.host), registry.credentialsFor('s1'));
    await upload(client, 's1/zstd', 's1/zstd', config);
    await upload(client, 's1/zstd', 's1/zstd', layer);
    const manifest = {
      schemaVersion: 2,
      mediaType: MediaType.ociManifest,
      config: { mediaType: MediaType.ociConfig, digest: config.digest, size: config.size },
      layers: [{ mediaType: MediaType.ociLayerZstd, digest: layer.digest, size: layer.size }],
    };
    await putManifest(client, 's1/zstd', 'v1', MediaType.ociManifest, Buffer.from(JSON.stringify(manifest)));

    const zstdDir = join(work, 'zstd-host');
    const zstdStore = await ImageStore.open(join(zstdDir, 'store'));
    const s8 = session('s8', zstdDir, zstdStore);
    const pulled = await s8.registries.pull(`${registry.host}/s1/zstd:v1`);
    expect(pulled.imageId).toBe(config.digest);
    const image = await zstdStore.inspect(pulled.imageId);
    expect(image.config.rootfs.diff_ids).toEqual([diffId]);
    expect(await readFile(join(zstdStore.layerDir(image.layers[0]!.chainId), 'hello.txt'), 'utf8')).toBe('from a zstd layer\n');
    // The control: the same bytes named as a gzip layer are refused (they are not gzip).
    await putManifest(client, 's1/zstd', 'as-gzip', MediaType.ociManifest, Buffer.from(JSON.stringify({ ...manifest, layers: [{ ...manifest.layers[0], mediaType: MediaType.ociLayerGzip }] })));
    const other = session('s9', join(work, 'zstd-host2'), await ImageStore.open(join(work, 'zstd-host2', 'store')));
    await expect(other.registries.pull(`${registry.host}/s1/zstd:as-gzip`)).rejects.toThrow();
  }, 60_000);

  it('a corrupted blob in the registry’s storage is refused, and nothing of it is kept', async () => {
    const s1 = session('s1');
    const name = `${registry.host}/s1/corrupt:v1`;
    await makeImage(s1.images, name, 1, 256 * 1024, 5);
    const pushed = await s1.registries.push(name);
    const client = new DistributionClient(endpointFor(registry.host), null);
    const res = await client.send('GET', `/v2/s1/corrupt/manifests/v1`, { headers: { accept: MediaType.ociManifest } });
    const chunks: Buffer[] = [];
    for await (const c of res.body) chunks.push(c as Buffer);
    const manifest = JSON.parse(Buffer.concat(chunks).toString()) as { layers: { digest: string }[] };
    expect(manifest).toBeTruthy();
    const hex = manifest.layers[0]!.digest.slice(7);
    const data = join(registry.storageDir, 'docker/registry/v2/blobs/sha256', hex.slice(0, 2), hex, 'data');
    const bytes = await readFile(data);
    bytes[bytes.length >> 1] = bytes[bytes.length >> 1]! ^ 0xff;
    await writeFile(data, bytes);

    const freshDir = join(work, 'fresh');
    const freshStore = await ImageStore.open(join(freshDir, 'store'));
    const s6 = session('s6', freshDir, freshStore);
    await expect(s6.registries.pull(name)).rejects.toMatchObject({ key: 'registry.digestMismatch', facts: { digest: `sha256:${hex}` } });
    expect(await s6.registries.cache.has(`sha256:${hex}`)).toBe(false);
    expect(await readdir(join(freshDir, 'registry-cache', 'partial'))).toEqual([]);
    expect(await freshStore.images()).toEqual([]);
    expect(pushed.digest).toMatch(/^sha256:/);
  }, 60_000);

  it('a pull resumes where it was when the registry is restarted mid-layer', async () => {
    const s1 = session('s1');
    const name = `${registry.host}/s1/big:v1`;
    const id = await makeImage(s1.images, name, 1, 48 * MiB, 6);
    await s1.registries.push(name);

    const resumeDir = join(work, 'resume');
    const resumeStore = await ImageStore.open(join(resumeDir, 'store'));
    const s7 = session('s7', resumeDir, resumeStore);
    let restart: Promise<void> | null = null;
    let cutAt = 0;
    const statuses: string[] = [];
    const pulled = await s7.registries.pull(
      name,
      (p) => statuses.push(p.status),
      (_digest, bytes) => {
        if (restart === null && bytes > 4 * MiB) {
          cutAt = bytes;
          // SIGKILL: a crash, not a drained shutdown; it stays down for a second.
          restart = registry.restartBackend(1000, 'SIGKILL');
        }
      },
    );
    await restart;
    expect(cutAt, JSON.stringify({ statuses: statuses.slice(0, 5), layers: pulled.layers })).toBeGreaterThan(0);
    expect(pulled.imageId).toBe(id);
    const layer = pulled.layers[0]!;
    expect(statuses).toContain('resumed');
    expect(layer.stats.resumedFromBytes).toBeGreaterThanOrEqual(cutAt);
    // Fewer bytes than the blob plus what was already there: nothing was fetched twice over.
    expect(layer.stats.fetchedBytes).toBeLessThan(layer.size + MiB);
    expect((await stat(resumeStore.layerDir((await resumeStore.inspect(id)).layers[0]!.chainId))).isDirectory()).toBe(true);
  }, 90_000);
});

describe('the host’s blob cache bound', () => {
  /** A process of its own that holds a lease on one blob (as a pull of another process does) until killed. */
  async function leaseHolder(cacheRoot: string, digest: string) {
    const module = new URL('../leases/process-lease.ts', import.meta.url).pathname;
    const script = `import { takeLease } from ${JSON.stringify(module)};\nawait takeLease(${JSON.stringify(join(cacheRoot, 'in-use'))}, ${JSON.stringify(digest.slice(7))});\nconsole.log('held');\nsetInterval(() => {}, 1000);`;
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve, reject) => {
      child.stdout!.on('data', (d: Buffer) => d.toString().includes('held') && resolve());
      child.once('exit', (code) => reject(new Error(`the lease holder exited (${code})`)));
    });
    return child;
  }

  /**
   * X (config, a1, a2) pulled into a cache bounded at 250 KiB, last used in that order; then Y
   * (two more 100 KiB layers) while another process holds a1 (alive, or SIGKILLed first).
   */
  async function fillPastTheBound(holderAlive: boolean, host: string) {
    const s1 = session('s1');
    const x = `${registry.host}/s1/lru-x:v1`;
    const y = `${registry.host}/s1/lru-y:v1`;
    if (!(await s1.images.resolve(x).then(() => true, () => false))) {
      await makeImage(s1.images, x, 2, 100 * 1024, 21);
      await makeImage(s1.images, y, 2, 100 * 1024, 22);
      await s1.registries.push(x);
      await s1.registries.push(y);
    }
    const dir = join(work, host);
    const st = await ImageStore.open(join(dir, 'store'));
    const images = new SessionImages(st, 's10', dir);
    const registries = new Registries({ dataDir: dir, store: st, images, projectDir: join(work, 'registry'), cacheBytes: 250 * 1024 });
    const cache = registries.cache;
    const px = await registries.pull(x);
    const [a1, a2] = px.layers.map((l) => l.digest);
    // Last uses one second apart, oldest first: X's config, a1, a2.
    const t0 = Date.now() / 1000 - 60;
    for (const [i, digest] of [px.imageId, a1!, a2!].entries()) await utimes(cache.path(digest), t0 + i, t0 + i);
    const holder = await leaseHolder(cache.root, a1!);
    if (!holderAlive) {
      holder.kill('SIGKILL');
      await new Promise((r) => holder.once('exit', r));
    }
    try {
      const py = await registries.pull(y);
      expect(await images.resolve(y)).toBe(py.imageId);
      const kept = async (digest: string) => cache.has(digest as Digest);
      return {
        xConfig: await kept(px.imageId),
        a1: await kept(a1!),
        a2: await kept(a2!),
        y: await Promise.all([py.imageId, ...py.layers.map((l) => l.digest)].map(kept)),
        bytes: (await cache.blobs()).reduce((sum, b) => sum + b.bytes, 0),
        inUse: await readdir(join(cache.root, 'in-use')),
      };
    } finally {
      holder.kill('SIGKILL');
    }
  }

  it('past its bound the least recently used blobs go, but not one another process is reading', async () => {
    const held = await fillPastTheBound(true, 'lru-held');
    expect(held.y).toEqual([true, true, true]);
    expect(held.xConfig).toBe(false);
    expect(held.a2).toBe(false);
    expect(held.a1).toBe(true); // older than a2, but held
    // Over the bound only by what is held: a1 and Y's own blobs (held by Y's pull while it ran).
    expect(held.bytes).toBeGreaterThan(250 * 1024);
    // The control: the same, its holder SIGKILLed first; a dead process's lease holds nothing.
    const dead = await fillPastTheBound(false, 'lru-dead');
    expect(dead.y).toEqual([true, true, true]);
    expect([dead.xConfig, dead.a1, dead.a2]).toEqual([false, false, false]);
    expect(dead.bytes).toBeLessThanOrEqual(250 * 1024);
    // Pulls let go of their leases; the dead holder's was removed by the eviction.
    expect(dead.inUse).toEqual([]);
  }, 60_000);
});
