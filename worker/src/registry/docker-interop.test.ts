// Real Docker (Debian's docker.io) against the project registry: what this engine pushes Docker
// pulls and runs, and what Docker pushes this engine pulls and runs. The test starts its own
// dockerd on a private socket (no iptables, no bridge; containers run with --network none)
// and stops it; it is skipped, saying why, only when docker.io is not installed.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureBaseImage } from '../base-images/index.js';
import { spawnCli } from '../cli/test-support/spawn-cli.js';
import { ImageStore } from '../image-store/index.js';
import { pinTimes, removeDir, tempDir } from '../image-store/test-support/fixtures.js';
import { SessionImages } from '../sessions/images.js';
import { ProjectRegistry, publishProjectRegistry, Registries } from './index.js';

const DOCKERD = '/usr/sbin/dockerd';
const DOCKER = '/usr/bin/docker';
const haveDocker = existsSync(DOCKERD) && existsSync(DOCKER);
if (!haveDocker) console.warn('docker-interop: skipped: docker.io is not installed (scripts/setup.sh --test installs it)');

let work: string;
let registry: ProjectRegistry;
let dockerd: ChildProcess | null = null;
let sock: string;
let dataDir: string;
let store: ImageStore;

/** Asynchronous on purpose: the registry's auth front runs in this process and must answer meanwhile. */
function docker(args: string[], timeout = 120_000): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(DOCKER, ['--config', join(work, 'docker-config'), '-H', `unix://${sock}`, ...args], { stdio: ['ignore', 'pipe', 'pipe'], timeout });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('close', (code) => resolve({ code: code ?? -1, out }));
  });
}

describe.skipIf(!haveDocker)('Docker and the project registry', () => {
  beforeAll(async () => {
    work = await tempDir('registry-docker');
    registry = new ProjectRegistry({ dir: join(work, 'registry'), port: 0 });
    await registry.start();
    await publishProjectRegistry(registry);
    sock = join(work, 'docker.sock');
    dockerd = spawn(DOCKERD, ['--data-root', join(work, 'docker-data'), '--exec-root', join(work, 'docker-exec'), '--pidfile', join(work, 'docker.pid'), '-H', `unix://${sock}`, '--iptables=false', '--bridge=none'], { stdio: 'ignore' });
    for (let i = 0; i < 300 && (await docker(['info'], 5000)).code !== 0; i++) await new Promise((r) => setTimeout(r, 100));
    dataDir = join(work, 'data');
    store = await ImageStore.open(join(dataDir, 'store'));
    await ensureBaseImage(store, 'busybox');
  }, 120_000);

  afterAll(async () => {
    if (dockerd !== null && dockerd.exitCode === null) {
      const exited = new Promise((r) => dockerd!.once('exit', r));
      dockerd.kill('SIGTERM');
      await exited;
    }
    await registry?.stop();
    spawnSync('umount', ['-R', join(work, 'docker-data')]);
    await removeDir(work);
  }, 60_000);

  it('an image this engine pushed is pulled and run by Docker', async () => {
    const images = new SessionImages(store, 's1', dataDir);
    const busybox = await store.inspect('busybox');
    const dir = join(work, 'hello-layer');
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'hello'), 'from layercake\n');
    await pinTimes(dir);
    const { layer } = await store.commitLayer(dir, busybox.layers.at(-1)!.chainId);
    const image = await store.createImage({
      ...busybox.config,
      rootfs: { type: 'layers', diff_ids: [...busybox.config.rootfs.diff_ids, layer.diffId] },
      history: [...(busybox.config.history ?? []), { created_by: 'COPY hello /' }],
    });
    const name = `${registry.host}/s1/hello:v1`;
    await images.tag(image.id, name);
    const pushed = await new Registries({ dataDir, store, images, projectDir: join(work, 'registry') }).push(name);

    // Docker logged in as another session (Docker sends no request after the ping's Basic
    // challenge without credentials); reads are open to every session.
    const login = await docker(['login', registry.host, '-u', 's2', '-p', registry.credentialsFor('s2').password]);
    expect(login.code, login.out).toBe(0);
    const pull = await docker(['pull', name]);
    expect(pull.code, pull.out).toBe(0);
    expect(pull.out).toContain(pushed.digest);
    const run = await docker(['run', '--rm', '--network', 'none', name, 'cat', '/hello']);
    expect(run.code, run.out).toBe(0);
    expect(run.out).toBe('from layercake\n');
    expect((await docker(['image', 'inspect', '--format', '{{.Id}}', name])).out.trim()).toBe(image.id);
  }, 180_000);

  it('an image Docker pushed is pulled and run by this engine', async () => {
    // Docker's base: this engine's busybox, saved and loaded into Docker.
    const archive = join(work, 'busybox.tar');
    await store.save(['busybox'], archive);
    const load = await docker(['load', '-i', archive]);
    expect(load.code, load.out).toBe(0);
    expect((await docker(['run', '--name', 'maker', '--network', 'none', 'busybox', 'sh', '-c', 'echo from docker > /made'])).code).toBe(0);
    const name = `${registry.host}/s9/made:v1`;
    expect((await docker(['commit', 'maker', name])).code).toBe(0);
    const { password } = registry.credentialsFor('s9');
    const login = await docker(['login', registry.host, '-u', 's9', '-p', password]);
    expect(login.code, login.out).toBe(0);
    const push = await docker(['push', name]);
    expect(push.code, push.out).toBe(0);
    const digest = /digest: (sha256:[0-9a-f]{64})/.exec(push.out)?.[1];

    const images = new SessionImages(store, 's10', dataDir);
    const pulled = await new Registries({ dataDir, store, images, projectDir: join(work, 'registry') }).pull(name);
    expect(pulled.digest).toBe(digest);
    expect(pulled.imageId).toBe((await docker(['image', 'inspect', '--format', '{{.Id}}', name])).out.trim());
    const run = await spawnCli(['--session', 's10', 'run', '--rm', name, 'cat', '/made'], {
      env: { ...process.env, LAYERCAKE_DATA: dataDir, LAYERCAKE_ID_RANGE_BASE: '2060000000', LANG: 'C.UTF-8' },
    });
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toBe('from docker\n');
  }, 180_000);
});
