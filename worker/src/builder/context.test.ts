// readContextFile reads a file at the context's top in this process (no fstree spawn per build)
// and must still refuse, never read, a symlink out of the context — also one swapped in while
// it reads. Real files, a real racing process; nothing mocked.
import { spawn, execFile } from 'node:child_process';
import { lstat, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LearnerError } from '../../../protocol/errors.js';
import { TreeAccessError } from '../image-store/tree-beneath.js';
import { ContextFileTooLarge, readContextFile } from './context.js';

const execFileP = promisify(execFile);

let work: string;
let secret: string;
beforeAll(async () => {
  work = await mkdtemp('/tmp/lc-context-read-');
  secret = join(work, 'host-secret');
  await writeFile(secret, 'host secret\n');
});
afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

async function context(name: string): Promise<string> {
  const dir = join(work, name);
  await mkdir(dir);
  return dir;
}

const failure = (p: Promise<unknown>) => p.then(() => null, (err: unknown) => err);

describe('a file at the top of the context', () => {
  it('is read as it is; absent, a directory or a fifo is no file (and a fifo does not block)', async () => {
    const dir = await context('plain');
    await writeFile(join(dir, '.dockerignore'), 'node_modules\n');
    await mkdir(join(dir, 'Dockerfile'));
    await execFileP('mkfifo', [join(dir, 'pipe')]);
    expect((await readContextFile(dir, '.dockerignore', 1000))?.toString()).toBe('node_modules\n');
    expect(await readContextFile(dir, 'missing', 1000)).toBeNull();
    expect(await readContextFile(dir, 'Dockerfile', 1000)).toBeNull();
    expect(await readContextFile(dir, 'pipe', 1000)).toBeNull();
  });

  it('past the limit is ContextFileTooLarge with its size; at the limit it is read whole', async () => {
    const dir = await context('large');
    await writeFile(join(dir, 'big'), Buffer.alloc(101, 'a'));
    await writeFile(join(dir, 'exact'), Buffer.alloc(100, 'b'));
    const err = await failure(readContextFile(dir, 'big', 100));
    expect(err).toBeInstanceOf(ContextFileTooLarge);
    expect((err as ContextFileTooLarge).sizeBytes).toBe(101);
    expect((await readContextFile(dir, 'exact', 100))?.length).toBe(100);
  });

  it('a symlink is followed while it stays inside, refused when it leads out (control: a plain read follows it out)', async () => {
    const dir = await context('links');
    await writeFile(join(dir, 'real'), 'inside\n');
    await symlink('real', join(dir, 'inner'));
    await symlink(secret, join(dir, '.dockerignore'));
    await symlink(`../../../../../../..${secret}`, join(dir, 'Dockerfile'));
    expect((await readContextFile(dir, 'inner', 1000))?.toString()).toBe('inside\n');
    for (const name of ['.dockerignore', 'Dockerfile']) {
      const err = await failure(readContextFile(dir, name, 1000));
      expect(err).toBeInstanceOf(LearnerError);
      expect((err as LearnerError).key).toBe('build.outsideContext');
      expect((err as LearnerError).facts).toEqual({ path: name });
    }
    expect(await readFile(join(dir, '.dockerignore'), 'utf8')).toBe('host secret\n');
  });

  it('never hands back the host file while a racer swaps the name between a file and a symlink out', async () => {
    const dir = await context('race');
    const target = join(dir, '.dockerignore');
    await writeFile(target, 'ok\n');
    // The racer renames a fresh symlink to the secret, then a fresh regular file, over the name, until killed.
    const racer = spawn('python3', [
      '-c',
      `import os,sys
d,s=sys.argv[1],sys.argv[2]
t=os.path.join(d,'.dockerignore')
while True:
  os.symlink(s,os.path.join(d,'l')); os.replace(os.path.join(d,'l'),t)
  open(os.path.join(d,'f'),'w').write('ok\\n'); os.replace(os.path.join(d,'f'),t)`,
      dir,
      secret,
    ], { stdio: 'ignore' });
    try {
      // Control: lstat says a regular file, then a read by path follows whatever is there by then.
      let leaked = false;
      const until = Date.now() + 20_000;
      while (!leaked && Date.now() < until) {
        const st = await lstat(target).catch(() => null);
        if (st?.isFile()) leaked = (await readFile(target, 'utf8').catch(() => '')).includes('host secret');
      }
      expect(leaked).toBe(true);
      const seen = { ok: 0, refused: 0 };
      for (let i = 0; i < 150; i++) {
        const read = await readContextFile(dir, '.dockerignore', 1000).catch((err: unknown) => err);
        // Refused: the link seen (outsideContext) or fstree finding the name changed under it.
        if ((read instanceof LearnerError && read.key === 'build.outsideContext') || read instanceof TreeAccessError) seen.refused++;
        else {
          // The name never goes missing (renames replace it atomically): a read is the file.
          expect(Buffer.isBuffer(read) ? read.toString() : read).toBe('ok\n');
          seen.ok++;
        }
      }
      expect(seen.ok).toBeGreaterThan(0);
    } finally {
      racer.kill('SIGKILL');
    }
  }, 60_000);
});
