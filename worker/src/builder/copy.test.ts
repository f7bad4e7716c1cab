// COPY and ADD, for real: files land in the step's layer (checked through a real overlay mount
// of the image), with Docker's rules for destinations, owners, modes, globs, .dockerignore and
// archives, and never outside the image whatever its symlinks say.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LearnerError } from '../../../protocol/errors.js';
import { createHarness, type Harness } from './test-support/harness.js';

let h: Harness;
beforeAll(async () => {
  h = await createHarness('copy');
});
afterAll(async () => {
  expect(await h.leftovers()).toEqual([]);
  await h.close();
});

const FIXED = 1_600_000_000; // a file time that is not "now"

/** `path mode uid:gid` for each path under $ROOT. */
const stat = (id: string, ...paths: string[]) =>
  h.inImage(id as never, paths.map((p) => `stat -c '%n %a %u:%g' "$ROOT${p}" | sed "s|^$ROOT||"`).join('; '));

function keyOf(error: unknown): string {
  expect(error).toBeInstanceOf(LearnerError);
  return (error as LearnerError).key;
}

describe('COPY from the build context', () => {
  it('copies a file, a directory\'s contents, and resolves destinations like Docker', async () => {
    const context = await h.context({
      'a.txt': { content: 'A', mode: 0o640, mtime: FIXED },
      'run.sh': { content: '#!/bin/sh\n', mode: 0o755 },
      'site/index.html': 'index',
      'site/css/main.css': 'css',
    });
    const built = await h.build(
      'FROM busybox\nWORKDIR /app\nCOPY a.txt .\nCOPY a.txt /renamed.txt\nCOPY run.sh a.txt /bin2/\nCOPY site /www\nCOPY site/ relative/\n',
      { context },
    );
    const files = await h.inImage(built.imageId, 'cd "$ROOT" && find app renamed.txt bin2 www -print | sort');
    expect(files.trim().split('\n')).toEqual([
      'app',
      'app/a.txt',
      'app/relative',
      'app/relative/css',
      'app/relative/css/main.css',
      'app/relative/index.html',
      'bin2',
      'bin2/a.txt',
      'bin2/run.sh',
      'renamed.txt',
      'www',
      'www/css',
      'www/css/main.css',
      'www/index.html',
    ]);
    // Modes and times are kept; owners are root, whatever they are on the host.
    expect(await stat(built.imageId, '/app/a.txt', '/bin2/run.sh')).toBe('/app/a.txt 640 0:0\n/bin2/run.sh 755 0:0\n');
    expect(await h.inImage(built.imageId, 'stat -c %Y "$ROOT/app/a.txt"')).toBe(`${FIXED}\n`);
  });

  it('substitutes build arguments and ENV in sources, destinations and --chown', async () => {
    const context = await h.context({ 'v2.txt': 'two' });
    const built = await h.build('FROM busybox\nARG VERSION=v1\nARG OWNER\nENV DEST=/versions\nCOPY --chown=${OWNER:-0} ${VERSION}.txt $DEST/\n', {
      context,
      buildArgs: { VERSION: 'v2', OWNER: '5' },
    });
    expect(await stat(built.imageId, '/versions/v2.txt')).toBe('/versions/v2.txt 644 5:5\n');
  });

  it('copies a directory over an existing one without disturbing what was there (copy-up keeps attributes)', async () => {
    const context = await h.context({ 'motd': 'hi', 'more/file': 'x' });
    const built = await h.build('FROM busybox\nCOPY motd /tmp/\nCOPY more /etc/\n', { context });
    // /tmp is 1777 in busybox: the copied-up directory in the layer must say the same.
    expect(await stat(built.imageId, '/tmp', '/etc', '/etc/file')).toBe('/tmp 1777 0:0\n/etc 755 0:0\n/etc/file 644 0:0\n');
    expect(await h.inImage(built.imageId, 'test -f "$ROOT/etc/passwd" && echo kept')).toBe('kept\n');
    const [copyMotd, copyMore] = built.steps.slice(1);
    expect(copyMotd!.layer).toMatchObject({ added: 1, changed: 1 });
    expect(copyMore!.layer).toMatchObject({ added: 1, changed: 1 });
  });

  it('matches wildcards per path component and refuses a pattern that matches nothing', async () => {
    const context = await h.context({ 'a.txt': '', 'b.txt': '', 'c.md': '', 'sub/d.txt': '', 'sub/e/f.txt': '' });
    const built = await h.build('FROM busybox\nCOPY *.txt /top/\nCOPY sub/*/f.txt [ab].txt /nested/\nCOPY ?.md /q/\n', { context });
    const files = await h.inImage(built.imageId, 'cd "$ROOT" && find top nested q -type f | sort');
    expect(files.trim().split('\n')).toEqual(['nested/a.txt', 'nested/b.txt', 'nested/f.txt', 'q/c.md', 'top/a.txt', 'top/b.txt']);
    const { error } = await h.buildFails('FROM busybox\nCOPY *.none /x/\n', { context });
    expect(keyOf(error)).toBe('build.copySourceMissing');
    expect((error as LearnerError).facts).toMatchObject({ source: '*.none', line: 2 });
  });

  it('leaves out what .dockerignore excludes, keeping exceptions', async () => {
    const context = await h.context({
      '.dockerignore': '# build output\nnode_modules\n*.log\nsecrets/\n!keep.log\nDockerfile\n',
      'Dockerfile': 'ignored',
      'app.js': 'app',
      'debug.log': 'log',
      'keep.log': 'keep',
      'node_modules/x/index.js': 'dep',
      'secrets/key': 'secret',
    });
    const built = await h.build('FROM busybox\nCOPY . /app/\n', { context });
    const files = await h.inImage(built.imageId, 'cd "$ROOT/app" && find . -mindepth 1 | sort');
    expect(files.trim().split('\n')).toEqual(['./.dockerignore', './app.js', './keep.log']);
    const { error } = await h.buildFails('FROM busybox\nCOPY secrets/key /k\n', { context });
    expect(keyOf(error)).toBe('build.copySourceMissing');
  });

  it('refuses sources outside the context and several sources into a non-directory', async () => {
    const context = await h.context({ 'a': '', 'b': '' });
    expect(keyOf((await h.buildFails('FROM busybox\nCOPY ../etc/passwd /x\n', { context })).error)).toBe('build.copyOutsideContext');
    expect(keyOf((await h.buildFails('FROM busybox\nCOPY a b /x\n', { context })).error)).toBe('build.copyDestNotDir');
    expect(keyOf((await h.buildFails('FROM busybox\nCOPY a\n', { context })).error)).toBe('build.copyNeedsDestination');
  });

  it('sets owners with --chown from the image\'s /etc/passwd and /etc/group, and modes with --chmod', async () => {
    const context = await h.context({ 'f': 'x', 'dir/g': 'y' });
    const built = await h.build(
      'FROM busybox\nCOPY --chown=daemon:bin f /named\nCOPY --chown=nobody f /user-only\nCOPY --chown=123 f /numeric\nCOPY --chown=7:8 dir /owned/\nCOPY --chmod=600 f /private\n',
      { context },
    );
    expect(await stat(built.imageId, '/named', '/user-only', '/numeric', '/owned', '/owned/g', '/private')).toBe(
      '/named 644 1:2\n/user-only 644 65534:65534\n/numeric 644 123:123\n/owned 755 7:8\n/owned/g 644 7:8\n/private 600 0:0\n',
    );
    const { error } = await h.buildFails('FROM busybox\nCOPY --chown=nosuchuser f /x\n', { context });
    expect(keyOf(error)).toBe('container.unknownUser');
    expect((error as LearnerError).where?.line).toBe(2);
  });

  it('copies symlinks inside a directory as symlinks and follows a source symlink only inside the context', async () => {
    const context = await h.context({ 'real.txt': 'real', 'tree/link': '-> ../real.txt', 'abs': '-> /real.txt', 'out': '-> /etc/hostname' });
    const built = await h.build('FROM busybox\nCOPY tree /tree/\nCOPY abs /from-abs\n', { context });
    expect(await h.inImage(built.imageId, 'readlink "$ROOT/tree/link"; cat "$ROOT/from-abs"')).toBe('../real.txt\nreal');
    // /etc/hostname, resolved in the context's scope, is not there: the host's is never read.
    expect(keyOf((await h.buildFails('FROM busybox\nCOPY out /x\n', { context })).error)).toBe('build.copySourceMissing');
  });
});

describe('COPY destinations never leave the image', () => {
  it('follows symlinks in the image inside the image only', async () => {
    const hostDir = join(h.work, 'host-target');
    mkdirSync(hostDir, { recursive: true });
    const context = await h.context({ 'f': 'payload' });
    const built = await h.build(
      `FROM busybox\nRUN mkdir -p /real ${hostDir} && ln -s /real /abs && ln -s ../../../../../../../..${hostDir} /escape && ln -s real /rel\nCOPY f /abs/\nCOPY f /escape/\nCOPY f /rel/g\n`,
      { context },
    );
    expect(readdirSync(hostDir)).toEqual([]);
    expect(await h.inImage(built.imageId, `cat "$ROOT/real/f" "$ROOT${hostDir}/f" "$ROOT/real/g"`)).toBe('payloadpayloadpayload');
    rmSync(hostDir, { recursive: true });
  });

  it('refuses a destination below a file', async () => {
    const context = await h.context({ 'f': '' });
    const { error } = await h.buildFails('FROM busybox\nCOPY f /etc/passwd/x\n', { context });
    expect(keyOf(error)).toBe('build.notADirectory');
  });
});

describe('ADD', () => {
  function makeTar(dir: string, name: string, args: string[]): void {
    execFileSync('tar', ['-C', dir, ...args, '-f', join(dir, name), 'payload'], { stdio: 'ignore' });
  }

  it('unpacks local tar archives (plain, gzip, bzip2, xz) and copies other files as they are', async () => {
    const context = await h.context({ 'payload/a.txt': 'A', 'payload/sub/b.txt': 'B', 'plain.gz': '' });
    makeTar(context, 'p.tar', ['-c']);
    makeTar(context, 'p.tar.gz', ['-cz']);
    makeTar(context, 'p.tar.bz2', ['-cj']);
    makeTar(context, 'p.tar.xz', ['-cJ']);
    execFileSync('sh', ['-c', `echo not a tar | gzip > ${join(context, 'plain.gz')}`]);
    const built = await h.build(
      'FROM busybox\nADD p.tar /plain/\nADD p.tar.gz /gz/\nADD p.tar.bz2 /bz2\nADD p.tar.xz /xz/\nADD plain.gz /files/\n',
      { context },
    );
    const files = await h.inImage(built.imageId, 'cd "$ROOT" && find plain gz bz2 xz files -type f | sort');
    expect(files.trim().split('\n')).toEqual([
      'bz2/payload/a.txt',
      'bz2/payload/sub/b.txt',
      'files/plain.gz',
      'gz/payload/a.txt',
      'gz/payload/sub/b.txt',
      'plain/payload/a.txt',
      'plain/payload/sub/b.txt',
      'xz/payload/a.txt',
      'xz/payload/sub/b.txt',
    ]);
    expect(await h.inImage(built.imageId, 'cat "$ROOT/xz/payload/sub/b.txt"')).toBe('B');
  });

  it('keeps an archive\'s entries inside the image: ../ and absolute names stay at its root', async () => {
    const context = await h.context({});
    const hostDir = join(h.work, 'archive-escape');
    mkdirSync(hostDir, { recursive: true });
    // A hand-made archive with hostile names (GNU tar would refuse to write them).
    const tarStream = (await import('tar-stream')).default;
    const pack = tarStream.pack();
    pack.entry({ name: `../../../../../../../..${hostDir}/dotdot`, type: 'file' }, 'x');
    pack.entry({ name: 'link', type: 'symlink', linkname: '/' }, '');
    pack.entry({ name: `link${hostDir}/through-link`, type: 'file' }, 'y');
    pack.finalize();
    const chunks: Buffer[] = [];
    for await (const chunk of pack) chunks.push(chunk as Buffer);
    writeFileSync(join(context, 'evil.tar'), Buffer.concat(chunks));
    const built = await h.build('FROM busybox\nADD evil.tar /unpacked/\n', { context });
    expect(readdirSync(hostDir)).toEqual([]);
    expect(await h.inImage(built.imageId, `cat "$ROOT/unpacked${hostDir}/dotdot" "$ROOT${hostDir}/through-link"`)).toBe('xy');
    expect(existsSync(join(hostDir, 'through-link'))).toBe(false);
    rmSync(hostDir, { recursive: true });
  });

  it('stops an archive that unpacks to more than a layer may hold', async () => {
    const context = await h.context({});
    // 8 MiB of zeros compresses to a few KiB.
    execFileSync('sh', ['-c', `mkdir -p ${context}/bomb && head -c 8388608 /dev/zero > ${context}/bomb/zeros && tar -C ${context} -czf ${context}/bomb.tgz bomb && rm -r ${context}/bomb`]);
    const small = h.builderWith({ writableLayerBytes: 1 << 20 });
    const { error } = await h.buildFails('FROM busybox\nADD bomb.tgz /x/\n', { context }, small);
    expect(keyOf(error)).toBe('build.stepDiskLimit');
    expect((error as LearnerError).facts).toMatchObject({ limit: '1 MiB', line: 2 });
    expect(await h.leftovers()).toEqual([]);
  });

  it('refuses URLs: there is no network', async () => {
    const { error } = await h.buildFails('FROM busybox\nADD https://example.com/file.tgz /x/\n');
    expect(keyOf(error)).toBe('build.addUrlUnsupported');
    expect((error as LearnerError).facts.url).toBe('https://example.com/file.tgz');
  });
});
