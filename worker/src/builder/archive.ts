// ADD of a local tar archive: Docker unpacks it (plain, gzip, bzip2, xz or zstd) into the
// destination directory instead of copying the file; anything else, including a compressed
// file that is not a tar, is copied as it is. Entries are written through the UpperWriter, so
// they land in the step's layer with the archive's owners, modes and times, and a hostile
// archive cannot write outside the image: `..` and absolute names stay at the image's root, and
// a symlink in a path is followed only inside the image.
import { spawn } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { posix } from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import tarStream from 'tar-stream';
import type { Attrs, UpperWriter } from '../image-store/upper-writer.js';
import { pathParts } from '../image-store/layered-tree.js';

export type Compression = 'none' | 'gzip' | 'bzip2' | 'xz' | 'zstd';

const MAGIC: [Compression, number[]][] = [
  ['gzip', [0x1f, 0x8b, 0x08]],
  ['bzip2', [0x42, 0x5a, 0x68]],
  ['xz', [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]],
  ['zstd', [0x28, 0xb5, 0x2f, 0xfd]],
];

function compressionOf(head: Buffer): Compression {
  for (const [name, magic] of MAGIC) if (magic.every((byte, i) => head[i] === byte)) return name;
  return 'none';
}

/** The archive's bytes, decompressed. Host decompressors only transform a byte stream. */
function decompressed(hostPath: string, compression: Compression): Readable {
  if (compression === 'none') return createReadStream(hostPath);
  if (compression === 'gzip') return createReadStream(hostPath).pipe(createGunzip());
  const tool = { bzip2: 'bzip2', xz: 'xz', zstd: 'zstd' }[compression];
  const child = spawn(tool, ['-dc', '--', hostPath], { stdio: ['ignore', 'pipe', 'ignore'] });
  const out = new PassThrough();
  child.stdout.pipe(out);
  child.on('error', (err) => out.destroy(err));
  child.on('close', (code) => {
    if (code !== 0 && code !== null) out.destroy(new Error(`${tool} could not decompress the archive (exit ${code})`));
  });
  out.on('close', () => child.kill());
  return out;
}

/** A ustar/GNU tar header: "ustar" at offset 257 and a matching checksum. */
function isTarHeader(block: Buffer): boolean {
  if (block.length < 512 || block.subarray(257, 262).toString('latin1') !== 'ustar') return false;
  const stored = parseInt(block.subarray(148, 156).toString('latin1').replace(/\0.*$/, '').trim(), 8);
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 0x20 : block[i]!;
  return stored === sum;
}

/** The archive's compression if `hostPath` is a tar archive ADD should unpack, else null. */
export async function detectArchive(hostPath: string): Promise<Compression | null> {
  const handle = await open(hostPath, 'r');
  const head = Buffer.alloc(512);
  let length: number;
  try {
    ({ bytesRead: length } = await handle.read(head, 0, 512, 0));
  } finally {
    await handle.close();
  }
  const compression = compressionOf(head.subarray(0, length));
  if (compression === 'none') return isTarHeader(head.subarray(0, length)) ? 'none' : null;
  // Compressed: only a tar inside counts (a gzipped text file is copied as it is).
  const stream = decompressed(hostPath, compression);
  const chunks: Buffer[] = [];
  let have = 0;
  try {
    for await (const chunk of stream) {
      chunks.push(chunk as Buffer);
      have += (chunk as Buffer).length;
      if (have >= 512) break;
    }
  } catch {
    return null;
  } finally {
    stream.destroy();
  }
  return isTarHeader(Buffer.concat(chunks)) ? compression : null;
}

export interface ExtractOptions {
  /** --chown of the ADD: overrides the archive's owners. */
  chown?: { uid: number; gid: number };
  signal?: AbortSignal;
  /**
   * Most bytes the unpacked files may hold: a small compressed archive can expand to fill the
   * disk (a "zip bomb"), so it is stopped there.
   */
  maxBytes: number;
}

export class ArchiveTooLargeError extends Error {
  constructor(readonly maxBytes: number) {
    super(`the archive unpacks to more than ${maxBytes} bytes`);
    this.name = 'ArchiveTooLargeError';
  }
}

/** Counts what passes through and stops past the limit. */
async function* bounded(source: AsyncIterable<Uint8Array>, budget: { left: number; max: number }): AsyncGenerator<Uint8Array> {
  for await (const chunk of source) {
    budget.left -= chunk.length;
    if (budget.left < 0) throw new ArchiveTooLargeError(budget.max);
    yield chunk;
  }
}

/** Unpacks the archive into the image directory `destParts` (already a directory in the upper). */
export async function extractArchive(
  hostPath: string,
  compression: Compression,
  writer: UpperWriter,
  destParts: readonly string[],
  options: ExtractOptions,
): Promise<{ entries: number; skipped: number }> {
  const budget = { left: options.maxBytes, max: options.maxBytes };
  const extract = tarStream.extract();
  const source = decompressed(hostPath, compression);
  source.pipe(extract);
  source.on('error', (err) => extract.destroy(err));
  let entries = 0;
  let skipped = 0;
  const directories: { parts: string[]; mtimeMs: number }[] = [];
  for await (const entry of extract) {
    options.signal?.throwIfAborted();
    const header = entry.header;
    // Clamped at the archive's root: `../x` and `/x` both mean <dest>/x.
    const rel = pathParts(posix.normalize(`/${header.name}`));
    if (rel.length === 0) {
      entry.resume();
      continue;
    }
    const attrs: Attrs = {
      mode: header.mode ?? 0o644,
      uid: options.chown?.uid ?? header.uid ?? 0,
      gid: options.chown?.gid ?? header.gid ?? 0,
      mtimeMs: (header.mtime?.getTime() ?? Date.now()),
    };
    const parent = await writer.resolve(`/${[...destParts, ...rel.slice(0, -1)].join('/')}`);
    await writer.ensureDir(parent.parts, { mode: 0o755, uid: attrs.uid, gid: attrs.gid });
    const parts = [...parent.parts, rel[rel.length - 1]!];
    switch (header.type) {
      case 'file':
      case 'contiguous-file':
        await writer.writeFile(parts, bounded(entry as AsyncIterable<Uint8Array>, budget), attrs);
        break;
      case 'directory':
        await writer.writeDir(parts, { ...attrs, mtimeMs: undefined });
        directories.push({ parts, mtimeMs: attrs.mtimeMs! });
        entry.resume();
        break;
      case 'symlink':
        await writer.writeSymlink(parts, header.linkname ?? '', attrs);
        entry.resume();
        break;
      case 'link': {
        const target = await writer.resolve(`/${[...destParts, ...pathParts(posix.normalize(`/${header.linkname ?? ''}`))].join('/')}`, false);
        if (!(await writer.writeHardlink(parts, target.parts, attrs))) skipped++;
        entry.resume();
        break;
      }
      default:
        // Devices and fifos are not created: a build has no use for them and a layer should not
        // carry device nodes from an archive.
        skipped++;
        entry.resume();
    }
    entries++;
    // Every entry costs an inode and a block of metadata: millions of empty files stop too.
    budget.left -= 512;
    if (budget.left < 0) throw new ArchiveTooLargeError(budget.max);
  }
  // Directory times last: writing their contents changed them.
  for (const dir of directories.reverse()) await writer.setTime(dir.parts, dir.mtimeMs);
  return { entries, skipped };
}
