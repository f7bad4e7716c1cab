// One tenant's names and images belong to that tenant, tried the way a hostile learner would:
// with the `layercake` binary, real containers, and archives whose names were rewritten to
// another session's and to the base images'. Each attack has a control showing that the store's
// plain primitives (what the verbs used before) would have let it through. Also: what the command
// line prints cannot drive the terminal, and a killed `load`, `commit` or attached `run --rm`
// leaves nothing behind. Each CLI call is a node process: the timeouts allow for a loaded host.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { enginePaths } from '../config.js';
import { ImageStore, parseReference } from '../image-store/index.js';
import { readArchive, writeArchive } from '../image-store/test-support/archives.js';
import { BIN, spawnCli, type Result } from './test-support/spawn-cli.js';

let work: string;
let dataDir: string;
let storeRoot: string;
const SESSIONS = ['victim', 'attacker'];

const env = (): NodeJS.ProcessEnv => ({ ...process.env, LAYERCAKE_DATA: dataDir, LAYERCAKE_ID_RANGE_BASE: '2000000000', LANG: 'C.UTF-8' });
const cli = (session: string, args: readonly string[]): Promise<Result> => spawnCli(['--session', session, ...args], { cwd: work, env: env() });
const background = (session: string, args: readonly string[]): ChildProcess =>
  spawn(process.execPath, [BIN, '--session', session, ...args], { cwd: work, env: env(), stdio: ['ignore', 'pipe', 'pipe'] });

/** The archive `from`, with manifest.json's RepoTags replaced (Docker archives do not sign their names). */
async function withRepoTags(from: string, to: string, repoTags: string[]): Promise<string> {
  const members = await readArchive(from);
  const manifest = JSON.parse(members.get('manifest.json')!.data!.toString()) as { RepoTags: string[] }[];
  manifest[0]!.RepoTags = repoTags;
  members.set('manifest.json', { name: 'manifest.json', data: Buffer.from(JSON.stringify(manifest)) });
  await writeArchive(to, members.values());
  return to;
}

/** Every tag, image, layer and tmp/ entry of the store, and every session's claims: what "nothing changed" compares. */
async function storeState(): Promise<Record<string, string[]>> {
  const list = (dir: string) => readdir(dir).then((names) => names.sort(), () => [] as string[]);
  const state: Record<string, string[]> = {};
  for (const part of ['refs', 'images', 'layers', 'tmp']) state[part] = await list(join(storeRoot, part));
  for (const session of SESSIONS) state[session] = await list(join(dataDir, 'sessions', session, 'images'));
  return state;
}

const imageId = async (session: string, ref: string): Promise<string> => {
  const r = await cli(session, ['images', '--no-trunc']);
  const [name, tag = 'latest'] = ref.split(':');
  const line = r.stdout.split('\n').find((l) => l.split(/\s+/)[0] === name && l.split(/\s+/)[1] === tag);
  return line?.split(/\s+/)[2] ?? '';
};

beforeAll(async () => {
  work = await mkdtemp('/tmp/lc-tenants-');
  dataDir = join(work, 'data');
  storeRoot = enginePaths(dataDir).store;
  expect((await cli('victim', ['images'])).code).toBe(0); // makes busybox
  // The victim's image, and one the attacker made: each knows its maker by /who.
  for (const [session, name] of [['victim', 'app'], ['attacker', 'evil']] as const) {
    expect((await cli(session, ['run', '--name', 'maker', 'busybox', 'sh', '-c', `echo ${session} > /who`])).code).toBe(0);
    expect((await cli(session, ['commit', 'maker', name])).code).toBe(0);
    expect((await cli(session, ['rm', 'maker'])).code).toBe(0);
    expect((await cli(session, ['save', '-o', join(work, `${name}.tar`), name])).code).toBe(0);
  }
}, 300_000);

afterAll(async () => {
  for (const session of SESSIONS) {
    const ids = (await cli(session, ['ps', '-aq'])).stdout.split('\n').filter(Boolean);
    if (ids.length > 0) await cli(session, ['rm', '-f', ...ids]);
  }
  await rm(work, { recursive: true, force: true });
});

describe('load', { timeout: 240_000 }, () => {
  it('never writes another session’s name or a base image’s: such an archive is refused whole, before anything is written', async () => {
    const hostile = await withRepoTags(join(work, 'evil.tar'), join(work, 'hostile.tar'), ['local.layercake/victim/app:latest', 'busybox:latest']);
    // Control: the store's plain load writes exactly the names the archive carries.
    const naive = await ImageStore.open(join(work, 'naive-store'));
    await naive.load(hostile);
    expect((await naive.list()).map((r) => `${r.repository}:${r.tag}`).sort()).toEqual(['busybox:latest', 'local.layercake/victim/app:latest']);

    const before = await storeState();
    const victimApp = await imageId('victim', 'app');
    const refused = await cli('attacker', ['load', '-i', hostile]);
    expect(refused).toMatchObject({ code: 1, stdout: '' });
    expect(refused.stderr).toBe('Error: busybox:latest is the name of a base image that everyone on this machine shares; give your image another name.\n');
    expect(await storeState()).toEqual(before);
    // The victim's app and everyone's busybox are what they were.
    expect(await imageId('victim', 'app')).toBe(victimApp);
    expect(await cli('victim', ['run', '--rm', 'app', 'cat', '/who'])).toMatchObject({ code: 0, stdout: 'victim\n' });
    expect(await cli('victim', ['run', '--rm', 'busybox', 'sh', '-c', 'test ! -e /who'])).toMatchObject({ code: 0 });

    // A base image name is reserved before that base image exists on this host (debian is not built here).
    const debian = await withRepoTags(join(work, 'evil.tar'), join(work, 'debian.tar'), ['debian:bookworm-slim']);
    expect((await cli('attacker', ['load', '-i', debian])).stderr).toMatch(/^Error: debian:bookworm-slim is the name of a base image/);
    expect(await storeState()).toEqual(before);
    expect((await cli('attacker', ['--lang', 'ko', 'tag', 'evil', 'debian:12-slim'])).stderr).toBe(
      '오류: debian:12-slim은(는) 이 컴퓨터의 모두가 함께 쓰는 베이스 이미지의 이름이에요. 이미지에 다른 이름을 붙이세요.\n',
    );
    expect((await cli('attacker', ['tag', 'evil', 'busybox'])).code).toBe(1);
    expect(await storeState()).toEqual(before);
  });

  it('puts another session’s name from an archive into the loading session only', async () => {
    const renamed = await withRepoTags(join(work, 'evil.tar'), join(work, 'renamed.tar'), ['local.layercake/victim/app:latest']);
    const victimApp = await imageId('victim', 'app');
    expect(await cli('attacker', ['load', '-i', renamed])).toMatchObject({ code: 0, stdout: 'Loaded image: app:latest\n' });
    expect(await cli('attacker', ['run', '--rm', 'app', 'cat', '/who'])).toMatchObject({ code: 0, stdout: 'attacker\n' });
    expect(await imageId('victim', 'app')).toBe(victimApp);
    expect(await cli('victim', ['run', '--rm', 'app', 'cat', '/who'])).toMatchObject({ code: 0, stdout: 'victim\n' });
    // A saved base image loads back as itself, with no new name.
    const refs = (await storeState()).refs;
    expect((await cli('attacker', ['save', '-o', join(work, 'busybox.tar'), 'busybox'])).code).toBe(0);
    expect(await cli('attacker', ['load', '-i', join(work, 'busybox.tar')])).toMatchObject({ code: 0, stdout: 'Loaded image: busybox:latest\n' });
    expect((await storeState()).refs).toEqual(refs);
    expect((await cli('attacker', ['rmi', 'app'])).code).toBe(0);
  });

  it('a load SIGKILLed midway leaves nothing, and one ended by SIGTERM removes its own work at once', async () => {
    // A gzipped archive of a 64 MB layer the store does not have: unpacking and staging take a while.
    expect((await cli('attacker', ['run', '--name', 'big', 'busybox', 'sh', '-c', 'head -c 64000000 /dev/urandom > /big'])).code).toBe(0);
    expect((await cli('attacker', ['commit', 'big', 'big'])).code).toBe(0);
    expect((await cli('attacker', ['save', '-o', join(work, 'big.tar'), 'big'])).code).toBe(0);
    expect((await cli('attacker', ['rm', 'big'])).code).toBe(0);
    expect((await cli('attacker', ['rmi', 'big'])).code).toBe(0);
    const gz = spawn('gzip', ['-1', '-k', join(work, 'big.tar')]);
    await once(gz, 'exit');
    const before = await storeState();

    for (const signal of ['SIGKILL', 'SIGTERM'] as const) {
      const load = background('attacker', ['load', '-i', join(work, 'big.tar.gz')]);
      const exited = once(load, 'exit');
      // Wait until it has work in tmp/ (control: there is something to leave behind).
      let entries: string[] = [];
      // Time-bound, not count-bound: on a loaded machine the command may take seconds to start
      // (a rebuild of the command line after a source change comes first).
      for (const deadline = Date.now() + 30_000; Date.now() < deadline && entries.length === 0; ) {
        await sleep(10);
        entries = (await readdir(join(storeRoot, 'tmp'))).filter((name) => name.includes(`-${load.pid}-`));
      }
      expect(entries.length).toBeGreaterThan(0);
      load.kill(signal);
      const [code, killedBy] = (await exited) as [number | null, string | null];
      if (signal === 'SIGTERM') {
        expect(code).toBe(143);
        expect((await readdir(join(storeRoot, 'tmp'))).filter((name) => name.includes(`-${load.pid}-`))).toEqual([]);
      } else {
        expect(killedBy).toBe('SIGKILL');
        expect((await readdir(join(storeRoot, 'tmp'))).length).toBeGreaterThan(0);
        expect((await cli('victim', ['images'])).code).toBe(0); // the next command sweeps it
      }
      expect(await storeState()).toEqual(before);
    }
    // And the archive does load when let finish.
    expect((await cli('attacker', ['load', '-i', join(work, 'big.tar.gz')])).stdout).toBe('Loaded image: big:latest\n');
    expect((await cli('attacker', ['rmi', 'big'])).code).toBe(0);
  });
});

describe('rmi', { timeout: 240_000 }, () => {
  it('-f in one session never touches another session’s image of the same content, and names nothing of it', async () => {
    // Both sessions hold the victim's image: the victim made it, the attacker loaded its archive.
    expect((await cli('attacker', ['load', '-i', join(work, 'app.tar')])).stdout).toBe('Loaded image: app:latest\n');
    const id = await imageId('victim', 'app');
    expect(await imageId('attacker', 'app')).toBe(id);
    expect((await cli('attacker', ['tag', 'app', 'app:two'])).code).toBe(0);
    expect((await cli('victim', ['run', '-d', '--name', 'keeps', 'app', 'sleep', '300'])).code).toBe(0);
    const victimContainer = (await cli('victim', ['ps', '-q'])).stdout.trim();

    // Control: the store's own rmi -f by id removes every name of the image, the victim's included.
    const naive = await ImageStore.open(join(work, 'naive-rmi'));
    await naive.load(join(work, 'app.tar'), { nameFor: () => parseReference('local.layercake/victim/app:latest') });
    await naive.tag(id, 'local.layercake/attacker/app:latest');
    await naive.remove(id, { force: true });
    expect(await naive.list()).toEqual([]);

    const conflict = await cli('attacker', ['rmi', id]);
    expect(conflict.code).toBe(1);
    expect(conflict.stderr).toMatch(/^Error: conflict: unable to delete [0-9a-f]{12} \(must be forced\) - image is referenced in multiple repositories\n$/);
    const forced = await cli('attacker', ['rmi', '-f', id]);
    expect(forced).toMatchObject({ code: 0, stdout: `Untagged: app:latest\nUntagged: app:two\nDeleted: ${id}\n`, stderr: '' });
    for (const out of [conflict, forced]) expect(out.stdout + out.stderr).not.toMatch(new RegExp(`victim|${victimContainer.slice(0, 12)}|keeps`));

    // The victim's image, name and container are untouched and working; the attacker's are gone.
    expect(await imageId('victim', 'app')).toBe(id);
    expect(await cli('victim', ['run', '--rm', 'app', 'cat', '/who'])).toMatchObject({ code: 0, stdout: 'victim\n' });
    expect((await cli('victim', ['ps', '-q'])).stdout.trim()).toBe(victimContainer);
    expect(await cli('attacker', ['run', '--rm', id, 'true'])).toMatchObject({ code: 125 });

    // Once the last holder lets go, the image and its own layer go, and no empty index directory stays.
    expect((await cli('victim', ['rm', '-f', 'keeps'])).code).toBe(0);
    expect(await cli('victim', ['rmi', 'app'])).toMatchObject({ code: 0, stdout: `Untagged: app:latest\nDeleted: ${id}\n` });
    expect(await readdir(join(storeRoot, 'images'))).not.toContain(id.slice(7));
    expect(await readdir(join(storeRoot, 'refs-by-image'))).not.toContain(id.slice(7));
  });
});

describe('rmi of a built image', { timeout: 240_000 }, () => {
  it('removes its untagged build steps with it, so they stop counting against the session', async () => {
    const dir = join(work, 'steps');
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'Dockerfile'), 'FROM busybox\nRUN echo a > /a\nRUN echo b > /b\n');
    expect((await cli('attacker', ['build', '-t', 'steps', dir])).code).toBe(0);
    const store = await ImageStore.open(storeRoot);
    const id = await store.resolve('local.layercake/attacker/steps:latest');
    const chain = (await store.history(id)).map((row) => row.id).filter((x): x is NonNullable<typeof x> => x !== null);
    expect(chain).toHaveLength(3); // the image, the first RUN's step, busybox
    const removed = await cli('attacker', ['rmi', 'steps']);
    expect(removed).toMatchObject({ code: 0, stdout: `Untagged: steps:latest\nDeleted: ${chain[0]}\nDeleted: ${chain[1]}\n` });
    const left = await readdir(join(storeRoot, 'images'));
    expect(left).not.toContain(chain[0]!.slice(7));
    expect(left).not.toContain(chain[1]!.slice(7));
    expect(left).toContain(chain[2]!.slice(7));
  });
});

describe('history', { timeout: 240_000 }, () => {
  it('shows the image another session’s commit was made from as <missing>, not its id', async () => {
    // The victim's own image under its commit: the parent link history follows (a build records none).
    const dir = join(work, 'twostep');
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'Dockerfile'), 'FROM busybox\nRUN echo one > /one\n');
    expect((await cli('victim', ['build', '-t', 'twostep', dir])).code).toBe(0);
    expect((await cli('victim', ['run', '--name', 'tocommit', 'twostep', 'touch', '/two'])).code).toBe(0);
    expect((await cli('victim', ['commit', 'tocommit', 'committed'])).code).toBe(0);
    expect((await cli('victim', ['save', '-o', join(work, 'committed.tar'), 'committed'])).code).toBe(0);
    expect((await cli('attacker', ['load', '-i', join(work, 'committed.tar')])).code).toBe(0);
    // Control: the attacker's image is the victim's, and its parent link names the victim's image.
    const store = await ImageStore.open(storeRoot);
    const loaded = await store.resolve('local.layercake/attacker/committed:latest');
    const victimImage = await store.resolve('local.layercake/victim/twostep:latest');
    expect(await store.parentOf(loaded)).toBe(victimImage);
    const shown = await cli('attacker', ['history', '--no-trunc', '-q', 'committed']);
    expect(shown.stdout.split('\n').slice(0, 2)).toEqual([loaded, '<missing>']);
    expect(shown.stdout).not.toContain(victimImage);
    // The victim sees its own image there.
    expect((await cli('victim', ['history', '--no-trunc', '-q', 'committed'])).stdout.split('\n').slice(0, 2)).toEqual([loaded, victimImage]);
    expect((await cli('victim', ['rm', 'tocommit'])).code).toBe(0);
    for (const session of SESSIONS) expect((await cli(session, ['rmi', 'committed'])).code).toBe(0);
    expect((await cli('victim', ['rmi', 'twostep'])).code).toBe(0);
  });
});

describe('what the command line prints', { timeout: 240_000 }, () => {
  it('carries no terminal escape from an image’s history, a container’s command or a file name', async () => {
    const osc52 = '\x1b]52;c;ZWNobyBwd25lZA==\x07';
    const title = '\x1b]0;pwned\x07';
    expect((await cli('attacker', ['run', '-d', '--name', 'esc', 'busybox', 'sh', '-c', `touch "/f${title}"; sleep 300 #${osc52}`])).code).toBe(0);
    expect((await cli('attacker', ['commit', '-m', `${osc52}${title}\x9b2J`, 'esc', 'escaped'])).code).toBe(0);
    // Control: the escapes are really in what the engine hands the printing code.
    const store = await ImageStore.open(storeRoot);
    const history = await store.history(await store.resolve('local.layercake/attacker/escaped:latest'));
    expect(history[0]!.comment).toContain(osc52);
    expect(history[0]!.createdBy).toContain(osc52);

    for (const args of [['history', 'escaped'], ['history', '--no-trunc', 'escaped'], ['ps'], ['ps', '--no-trunc'], ['diff', 'esc'], ['images'], ['inspect', 'escaped'], ['inspect', 'esc']]) {
      const out = await cli('attacker', args);
      expect(out.code, args.join(' ')).toBe(0);
      expect(out.stdout, args.join(' ')).not.toMatch(/[\x00-\x08\x0b-\x1f\x7f-\x9f]/);
    }
    expect((await cli('attacker', ['diff', 'esc'])).stdout).toContain('A /f\n');
    expect((await cli('attacker', ['rm', '-f', 'esc'])).code).toBe(0);
    expect((await cli('attacker', ['rmi', 'escaped'])).code).toBe(0);
  });
});

describe('a killed command leaves nothing', { timeout: 240_000 }, () => {
  it('an attached run --rm ended by SIGHUP, or a second SIGTERM, removes its container', async () => {
    for (const [name, signals] of [['hup', ['SIGHUP']], ['term', ['SIGTERM', 'SIGTERM']]] as const) {
      const run = background('attacker', ['run', '--rm', '--name', name, 'busybox', 'sleep', '300']);
      const exited = once(run, 'exit');
      for (let i = 0; i < 200 && !(await cli('attacker', ['ps'])).stdout.includes(` ${name}\n`); i++) await sleep(50);
      expect((await cli('attacker', ['ps'])).stdout).toContain(` ${name}\n`);
      for (const [i, signal] of signals.entries()) {
        run.kill(signal);
        if (i < signals.length - 1) {
          // Control: the first TERM is passed to the container, whose pid 1 (sleep) ignores it: still running.
          await sleep(500);
          expect((await cli('attacker', ['ps'])).stdout).toContain(` ${name}\n`);
        }
      }
      const [code] = (await exited) as [number | null];
      expect(code).toBe(signals.at(-1) === 'SIGHUP' ? 129 : 143);
      expect((await cli('attacker', ['ps', '-a'])).stdout).not.toContain(name);
    }
  });

  it('a commit ended by SIGTERM removes its half-made layer at once', async () => {
    expect((await cli('attacker', ['run', '--name', 'fat', 'busybox', 'sh', '-c', 'for i in 1 2 3 4 5 6 7 8; do head -c 40000000 /dev/urandom > /f$i; done'])).code).toBe(0);
    const commit = background('attacker', ['commit', 'fat', 'fat']);
    const exited = once(commit, 'exit');
    let entries: string[] = [];
    for (let i = 0; i < 400 && entries.length === 0; i++) {
      await sleep(10);
      entries = (await readdir(join(storeRoot, 'tmp'))).filter((name) => name.includes(`-${commit.pid}-`));
    }
    expect(entries.length).toBeGreaterThan(0); // control: the commit's copy was under way
    commit.kill('SIGTERM');
    const [code] = (await exited) as [number | null];
    expect(code).toBe(143);
    expect((await readdir(join(storeRoot, 'tmp'))).filter((name) => name.includes(`-${commit.pid}-`))).toEqual([]);
    expect((await cli('attacker', ['rm', 'fat'])).code).toBe(0);
  });
});
