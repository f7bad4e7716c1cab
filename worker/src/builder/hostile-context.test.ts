// What the builder reads from the host on a learner's behalf: the Dockerfile and .dockerignore
// of their context (a symlink out of it is refused, never read), and a RUN step's upper (read
// only once the step's container is gone, so nothing can swap a symlink in while it is read).
import { execFile } from 'node:child_process';
import { lstat, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { LearnerError } from '../../../protocol/errors.js';
import { chainIdsOf } from '../image-store/index.js';
import { parseDockerfile } from './parse.js';
import { createHarness, REPO, type Harness } from './test-support/harness.js';

const execFileP = promisify(execFile);

let h: Harness;
let canary: { dir: string; token: string };
beforeAll(async () => {
  h = await createHarness('hostile-context');
  const token = `tok${Date.now().toString(36)}${Math.random().toString(36).slice(2)}`;
  canary = { dir: await mkdtemp('/tmp/lc-host-canary-'), token };
  for (let i = 0; i < 8; i++) await writeFile(join(canary.dir, `host-secret-${token}-${i}`), `host secret ${token}\n`);
  await writeFile(join(canary.dir, 'Dockerfile'), `FROM busybox\nRUN echo ${token}\n`);
});
afterEach(async () => {
  expect(await h.leftovers()).toEqual([]);
});
afterAll(async () => {
  await h?.close();
  if (canary) await rm(canary.dir, { recursive: true, force: true });
});

/** A build that reads its Dockerfile from the context (not from the request). */
const fromContext = (context: string, dockerfilePath = 'Dockerfile') => ({ context, dockerfile: undefined, dockerfilePath });

describe('the Dockerfile and .dockerignore are read only from inside the context', () => {
  it('refuses a Dockerfile that is a symlink to a host file, with a learner error that shows none of it', async () => {
    for (const target of ['/etc/passwd', `${canary.dir}/Dockerfile`, '../../../../../../etc/passwd']) {
      const context = await h.context({ Dockerfile: `-> ${target}` });
      const { error } = await h.buildFails('', fromContext(context));
      expect(error).toBeInstanceOf(LearnerError);
      expect((error as LearnerError).key).toBe('build.outsideContext');
      expect((error as LearnerError).facts).toEqual({ path: 'Dockerfile' });
      expect(JSON.stringify((error as LearnerError).toPayload())).not.toMatch(/root:x|host secret|tok/);
    }
    // Control: read by path, as before, the link hands the builder a host file, and its parse
    // error shows the learner that file's first line.
    const context = await h.context({ Dockerfile: '-> /etc/passwd' });
    const parsed = await Promise.resolve()
      .then(async () => parseDockerfile(await readFile(join(context, 'Dockerfile'), 'utf8')))
      .catch((err: unknown) => err);
    expect(JSON.stringify((parsed as LearnerError).facts)).toMatch(/root/);
  });

  it('refuses a Dockerfile named by -f that leads out through a symlinked directory', async () => {
    const context = await h.context({ 'docker/': '', 'docker/up': `-> ${canary.dir}` });
    const { error } = await h.buildFails('', fromContext(context, 'docker/up/Dockerfile'));
    expect((error as LearnerError).key).toBe('build.outsideContext');
  });

  it('follows a symlinked Dockerfile that stays inside the context, as Docker does', async () => {
    const context = await h.context({ 'docker/Dockerfile.real': 'FROM busybox\nLABEL via=link\n', Dockerfile: '-> docker/Dockerfile.real' });
    const built = await h.build('', fromContext(context));
    expect((await h.store.inspect(built.imageId)).config.config?.Labels).toMatchObject({ via: 'link' });
  });

  it('refuses a .dockerignore that is a symlink out of the context', async () => {
    const context = await h.context({ '.dockerignore': `-> ${canary.dir}/host-secret-${canary.token}-0`, 'app.txt': 'a' });
    const { error } = await h.buildFails('FROM busybox\nCOPY app.txt /\n', { context });
    expect((error as LearnerError).key).toBe('build.outsideContext');
    expect((error as LearnerError).facts).toEqual({ path: '.dockerignore' });
  });
});

describe('a RUN step’s layer', () => {
  it('holds none of the host even when the step raced a symlink swap until it ended', async () => {
    // The racer (containers/test-support/racer.c) swaps /race/d with a symlink to the host's
    // canary directory until the step's shell exits; the step's pid namespace ends it with the
    // step, and only then does the builder read the upper. No control can be shown here: the
    // guarantee is the kernel's (no process of a container outlives its init). The same race
    // against a live container, with its controls, is in containers/hostile-upper.test.ts.
    const racer = join(h.work, 'racer');
    await execFileP('cc', ['-static', '-O2', '-o', racer, join(REPO, 'worker/src/containers/test-support/racer.c')]);
    const context = await h.context({ racer: { content: await readFile(racer), mode: 0o755 } });
    const built = await h.build(`FROM busybox\nCOPY racer /racer\nRUN /racer /race ${canary.dir} & sleep 1; test -e /race/ready\n`, { context });
    const image = await h.store.inspect(built.imageId);
    const top = h.store.layerDir(chainIdsOf(image.config.rootfs.diff_ids).at(-1)!);
    const found: string[] = [];
    async function walk(path: string): Promise<void> {
      for (const name of await readdir(path)) {
        const child = join(path, name);
        const st = await lstat(child);
        if (name.includes('host-secret') || (st.isFile() && (await readFile(child, 'utf8')).includes(canary.token))) found.push(child);
        if (st.isDirectory()) await walk(child);
      }
    }
    await walk(top);
    expect(found).toEqual([]);
    // The step did race: its layer holds the racing pair, one of them the container's own files.
    expect((await readdir(join(top, 'race'))).sort()).toEqual(['d', 'l', 'ready']);
  }, 60_000);
});
