// The one mountinfo parser, against real mounts whose paths mountinfo escapes (a space, a
// backslash): each reader finds them by the path as the engine spells it. The control reads the
// same line without unescaping, as data-filesystem.ts once did, and misses the mount.
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isMountPoint } from '../disk/disk-quota.js';
import { unmountDataFilesystem } from '../disk/data-filesystem.js';
import { mountsBelow, parseMountInfo, readMounts, removeTree } from './mounts.js';

const execFileP = promisify(execFile);

let base: string;
let oddDir: string;

beforeAll(async () => {
  base = await mkdtemp(join(tmpdir(), 'mounts-'));
  oddDir = join(base, 'a dir\\with odd\tnames');
  await mkdir(oddDir, { recursive: true });
  await execFileP('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmp fs', oddDir]);
});

afterAll(async () => {
  await execFileP('umount', ['-l', oddDir]).catch(() => undefined);
  await rm(base, { recursive: true, force: true });
});

describe('mountinfo', () => {
  it('parses fields after the optional ones, with paths unescaped', () => {
    const [entry] = parseMountInfo('36 35 98:0 /mnt1 /mnt/a\\040b rw,noatime master:1 shared:2 - ext3 /dev/root\\040x rw,errors=continue\n');
    expect(entry).toEqual({ mountId: '36', devNumbers: '98:0', mountPoint: '/mnt/a b', fsType: 'ext3', source: '/dev/root x', superOptions: ['rw', 'errors=continue'] });
    expect(parseMountInfo('garbage line\n\n')).toEqual([]);
  });

  it('finds a mount whose path mountinfo escapes, in every reader', async () => {
    const raw = await readFile('/proc/self/mountinfo', 'utf8');
    expect(raw).toContain('\\040');
    // Control: the raw field is not the path, so a reader that does not unescape misses it.
    expect(raw.split('\n').some((line) => line.split(' ')[4] === oddDir)).toBe(false);

    const entry = (await readMounts()).find((m) => m.mountPoint === oddDir);
    expect(entry).toMatchObject({ fsType: 'tmpfs', source: 'tmp fs' });
    expect(await isMountPoint(oddDir)).toBe(true);
    expect(await mountsBelow(base)).toEqual([oddDir]);
  });

  it('removeTree detaches the mount first; unmountDataFilesystem finds it by its path', async () => {
    const tree = join(base, 'tree');
    const inner = join(tree, 'inner dir');
    await mkdir(inner, { recursive: true });
    await execFileP('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', inner]);
    await writeFile(join(inner, 'kept'), 'x');
    await removeTree(tree);
    expect(await mountsBelow(tree)).toEqual([]);

    await unmountDataFilesystem(oddDir);
    expect(await isMountPoint(oddDir)).toBe(false);
  });
});
