import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { getAttribute, setAttribute } from '@napi-rs/xattr';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TAR_END, TarFormatError, encodeTarHeader, readTar, tarPadding, type TarHeader } from './tar-codec.js';
import { CAPABILITY, chunksOf, exists, removeDir, runOk, tempDir } from './test-support/fixtures.js';

const limits = { maxEntryBytes: 1 << 30, maxMetaBytes: 1 << 20 };

function archive(entries: { header: TarHeader; body?: Buffer }[]): Buffer {
  const parts: Buffer[] = [];
  for (const { header, body } of entries) {
    parts.push(encodeTarHeader(header));
    if (body) parts.push(body, tarPadding(body.length));
  }
  parts.push(TAR_END);
  return Buffer.concat(parts);
}

async function readAll(bytes: Buffer): Promise<{ header: TarHeader; body: Buffer }[]> {
  const out: { header: TarHeader; body: Buffer }[] = [];
  for await (const { header, body } of readTar(chunksOf(bytes, 333), limits)) {
    const parts: Buffer[] = [];
    for await (const chunk of body) parts.push(chunk);
    out.push({ header, body: Buffer.concat(parts) });
  }
  return out;
}

const base = { mode: 0o644, uid: 0, gid: 0, size: 0, mtime: 1_700_000_000 } as const;

describe('tar codec', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await tempDir('tar-codec');
  });
  afterAll(async () => {
    await removeDir(dir);
    expect(await exists(dir)).toBe(false);
  });

  it('round-trips long and non-ASCII names, big ids, negative times and binary xattrs', async () => {
    const longName = `${'deep/'.repeat(60)}file`;
    const entries = [
      { header: { ...base, name: 'dir', type: 'directory' as const, mode: 0o755 } },
      { header: { ...base, name: longName, type: 'file' as const, size: 5 }, body: Buffer.from('hello') },
      { header: { ...base, name: 'ünïcødé/名前', type: 'file' as const, uid: 5_000_000, gid: 3 } },
      { header: { ...base, name: 'old', type: 'file' as const, mtime: -86_400 } },
      { header: { ...base, name: 'link', type: 'symlink' as const, linkname: `/${'x'.repeat(150)}` } },
      { header: { ...base, name: 'ping', type: 'file' as const, mode: 0o4755, xattrs: new Map([['security.capability', CAPABILITY]]) } },
      { header: { ...base, name: 'null', type: 'chardev' as const, devmajor: 1, devminor: 3 } },
    ];
    const read = await readAll(archive(entries));
    expect(read.map((e) => e.header.name)).toEqual(['dir', longName, 'ünïcødé/名前', 'old', 'link', 'ping', 'null']);
    expect(read[1]!.body.toString()).toBe('hello');
    expect(read[2]!.header.uid).toBe(5_000_000);
    expect(read[3]!.header.mtime).toBe(-86_400);
    expect(read[4]!.header.linkname).toBe(`/${'x'.repeat(150)}`);
    expect(read[5]!.header.mode).toBe(0o4755);
    expect(read[5]!.header.xattrs?.get('security.capability')).toEqual(CAPABILITY);
    expect([read[6]!.header.devmajor, read[6]!.header.devminor]).toEqual([1, 3]);
  });

  it('encodes identically every time', () => {
    const header = { ...base, name: 'a/b', type: 'file' as const, xattrs: new Map([['security.capability', CAPABILITY]]) };
    expect(encodeTarHeader(header).equals(encodeTarHeader({ ...header }))).toBe(true);
  });

  it('writes archives GNU tar reads, capability bytes included', async () => {
    const bytes = archive([
      { header: { ...base, name: 'bin', type: 'directory', mode: 0o755 } },
      { header: { ...base, name: 'bin/tool', type: 'file', size: 2, mode: 0o755, xattrs: new Map([['security.capability', CAPABILITY]]) }, body: Buffer.from('#!') },
      { header: { ...base, name: `${'n'.repeat(120)}/x`, type: 'file' } },
    ]);
    const file = join(dir, 'ours.tar');
    await writeFile(file, bytes);
    const listing = await runOk('tar', ['-tf', file]);
    expect(listing.split('\n').filter(Boolean)).toEqual(['bin/', 'bin/tool', `${'n'.repeat(120)}/x`]);
    const out = join(dir, 'gnu-extracted');
    await runOk('mkdir', [out]);
    await runOk('tar', ['--xattrs', '--xattrs-include=security.capability', '-xpf', file, '-C', out]);
    expect(await getAttribute(join(out, 'bin/tool'), 'security.capability')).toEqual(CAPABILITY);
  });

  it('reads archives GNU tar writes (POSIX with xattrs, and GNU long names)', async () => {
    const src = join(dir, 'gnu-src');
    const longName = 'l'.repeat(180);
    await runOk('mkdir', ['-p', src]);
    await writeFile(join(src, 'tool'), 'x');
    await writeFile(join(src, longName), 'long');
    await setAttribute(join(src, 'tool'), 'security.capability', CAPABILITY);
    for (const format of ['posix', 'gnu']) {
      const file = join(dir, `${format}.tar`);
      await runOk('tar', [`--format=${format}`, '--xattrs', '--xattrs-include=security.capability', '-cf', file, '-C', src, 'tool', longName]);
      const read = await readAll(await readFile(file));
      expect(read.map((e) => e.header.name)).toEqual(['tool', longName]);
      expect(read[1]!.body.toString()).toBe('long');
      if (format === 'posix') expect(read[0]!.header.xattrs?.get('security.capability')).toEqual(CAPABILITY);
    }
  });

  it('refuses a corrupted header, a truncated body and an over-limit size', async () => {
    const good = archive([{ header: { ...base, name: 'f', type: 'file', size: 3 }, body: Buffer.from('abc') }]);
    const corrupted = Buffer.from(good);
    corrupted[10] = 0x41;
    await expect(readAll(corrupted)).rejects.toThrow(TarFormatError);
    await expect(readAll(good.subarray(0, 512 + 2))).rejects.toThrow(/truncated/);
    const huge = archive([{ header: { ...base, name: 'f', type: 'file', size: 8 * 1024 ** 3 } }]);
    await expect(readAll(huge)).rejects.toThrow(/more than the limit/);
  });
});
