// The build context: the directory a build may COPY and ADD from, as Docker would send it to
// its daemon — everything except what .dockerignore excludes (matched with
// @balena/dockerignore, a port of Docker's own matcher). The walk happens once per build; it
// enforces the context size limit and gives COPY a tree in which ignored files do not exist.
import { constants, createReadStream } from 'node:fs';
import { lstat, open, readdir, readlink, stat } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import * as dockerignore from '@balena/dockerignore';
import type { Ignore } from '@balena/dockerignore';
import { LearnerError } from '../../../protocol/errors.js';
import { TreeAccessError, readFileBeneath } from '../image-store/tree-beneath.js';
import { readRecord } from '../image-store/record-io.js';
import { formatBytes } from './format.js';
import { entryFromStats, type SourceTree, type TreeEntry } from '../image-store/layered-tree.js';

// The package is CommonJS with only `exports.default`: under Node's ESM interop the default
// import is the exports object, under a bundler's it is the function.
type IgnoreFactory = () => Ignore;
const dockerignoreExports = (dockerignore as unknown as { default: IgnoreFactory | { default: IgnoreFactory } }).default;
const ignore: IgnoreFactory = typeof dockerignoreExports === 'function' ? dockerignoreExports : dockerignoreExports.default;

export interface ContextLimits {
  contextBytes: number;
}

/** The lines of a .dockerignore that mean something (comments and blanks dropped). */
export function dockerignorePatterns(text: string): string[] {
  return text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'));
}

export class BuildContext implements SourceTree {
  private constructor(
    readonly dir: string,
    private readonly entries: Map<string, TreeEntry>,
    private readonly childNames: Map<string, string[]>,
    /** Bytes of the files that count as sent (what the limit is about). */
    readonly sizeBytes: number,
  ) {}

  /**
   * Walks `dir`. Throws build.contextTooLarge as soon as the files not excluded pass the limit,
   * so a learner who points a build at a huge directory waits for nothing.
   */
  static async load(dir: string, limits: ContextLimits): Promise<BuildContext> {
    const ignoreFile = await readContextFile(dir, '.dockerignore', limits.contextBytes);
    const patterns = dockerignorePatterns(ignoreFile === null ? '' : ignoreFile.toString('utf8'));
    const matcher = ignore().add(patterns);
    const entries = new Map<string, TreeEntry>();
    const childNames = new Map<string, string[]>();
    let sizeBytes = 0;
    // Past the limit the walk goes on a little, so the learner sees how big the context is,
    // but stops at ten times the limit: a build pointed at a huge tree waits for nothing.
    const stopAt = limits.contextBytes * 10;
    // Depth first; a directory's entry and listing are recorded after its children so that an
    // ignored directory holding a re-included file (`!dir/keep`) is still a directory here.
    const walk = async (rel: string): Promise<boolean> => {
      const hostPath = rel === '' ? dir : join(dir, rel);
      const st = await lstat(hostPath);
      const ignored = rel !== '' && matcher.ignores(rel);
      if (st.isDirectory()) {
        const kept: string[] = [];
        for (const name of (await readdir(hostPath)).sort()) {
          if (await walk(rel === '' ? name : `${rel}/${name}`)) kept.push(name);
        }
        if (ignored && kept.length === 0) return false;
        entries.set(rel, entryFromStats(st, hostPath));
        childNames.set(rel, kept);
        return true;
      }
      if (ignored) return false;
      if (!st.isFile() && !st.isSymbolicLink()) return false; // sockets, fifos, devices: Docker skips them too
      entries.set(rel, entryFromStats(st, hostPath, st.isSymbolicLink() ? await readlink(hostPath) : undefined));
      if (st.isFile()) {
        sizeBytes += st.size;
        if (sizeBytes > stopAt) throw tooLarge(sizeBytes, limits, true);
      }
      return true;
    };
    await walk('');
    if (sizeBytes > limits.contextBytes) throw tooLarge(sizeBytes, limits, false);
    return new BuildContext(dir, entries, childNames, sizeBytes);
  }

  async root(): Promise<TreeEntry> {
    return this.entries.get('')!;
  }

  async lookup(parts: readonly string[]): Promise<TreeEntry | null> {
    return this.entries.get(parts.join('/')) ?? null;
  }

  async children(parts: readonly string[]): Promise<string[]> {
    return this.childNames.get(parts.join('/')) ?? [];
  }
}

/**
 * A file the build itself reads from the context (the Dockerfile, .dockerignore), or null if
 * there is none. The context is the learner's: a symlink there is followed only while it stays
 * inside (fstree, openat2 RESOLVE_BENEATH), so `Dockerfile -> /etc/shadow` is refused rather
 * than read and shown back in a parse error. Past `maxBytes`: ContextFileTooLarge.
 */
export async function readContextFile(dir: string, rel: string, maxBytes: number): Promise<Buffer | null> {
  // A file at the top that is no symlink (every context the playground sends) is read here: a
  // process spawn per build was most of the time between a job's pick-up and build.started.
  if (/^[^/]+$/.test(rel) && rel !== '.' && rel !== '..') {
    const read = await readTopFile(dir, rel, maxBytes);
    if (read !== 'link') return read;
  }
  try {
    return await readFileBeneath(dir, rel, maxBytes);
  } catch (err) {
    if (!(err instanceof TreeAccessError)) throw err;
    if (err.code === 'notfound' || err.code === 'notfile') return null;
    if (err.code === 'escapes' || err.code === 'loop' || err.code === 'xdev') throw new LearnerError('build.outsideContext', { path: rel });
    if (err.code === 'toolarge') throw new ContextFileTooLarge(err.sizeBytes ?? maxBytes + 1);
    throw err;
  }
}

/**
 * `name` directly in `dir`, without fstree: there is no directory on the way for a symlink to
 * redirect, and the name itself is opened with O_NOFOLLOW and checked to be the regular file
 * lstat saw, on the context's own filesystem. 'link' when it is (or just became) a symlink or
 * anything unexpected: fstree then decides whether it stays inside.
 */
async function readTopFile(dir: string, name: string, maxBytes: number): Promise<Buffer | null | 'link'> {
  const path = join(dir, name);
  const absent = (err: unknown) => ['ENOENT', 'ENOTDIR'].includes((err as NodeJS.ErrnoException).code ?? '');
  let seen;
  try {
    seen = await lstat(path);
  } catch (err) {
    if (absent(err)) return null;
    throw err;
  }
  if (seen.isSymbolicLink()) return 'link';
  if (!seen.isFile()) return null; // a directory, fifo or socket is no file, as fstree says (notfile)
  let handle;
  try {
    handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ELOOP') return 'link';
    if (absent(err)) return null;
    throw err;
  }
  try {
    const [opened, root] = await Promise.all([handle.stat(), stat(dir)]);
    if (!opened.isFile() || opened.ino !== seen.ino || opened.dev !== seen.dev || opened.dev !== root.dev) return 'link';
    if (opened.size > maxBytes) throw new ContextFileTooLarge(opened.size);
    // One byte more than allowed tells a file that grew since fstat.
    const buffer = Buffer.alloc(Math.min(opened.size, maxBytes) + 1);
    let length = 0;
    for (;;) {
      const { bytesRead } = await handle.read(buffer, length, buffer.length - length, length);
      if (bytesRead === 0) break;
      length += bytesRead;
      if (length > maxBytes) throw new ContextFileTooLarge(length);
      if (length === buffer.length) break;
    }
    return buffer.subarray(0, length);
  } finally {
    await handle.close();
  }
}

/** Thrown by readContextFile; the caller says which limit it was. */
export class ContextFileTooLarge extends Error {
  constructor(readonly sizeBytes: number) {
    super(`larger than allowed: ${sizeBytes} bytes`);
  }
}

function tooLarge(sizeBytes: number, limits: ContextLimits, partial: boolean): LearnerError {
  return new LearnerError('build.contextTooLarge', {
    size: `${formatBytes(sizeBytes)}${partial ? '+' : ''}`,
    limit: formatBytes(limits.contextBytes),
  });
}

// Content digests of files, remembered while a file's inode, size and change time stay the
// same, so a cached rebuild does not read every file of the context again. (ctime changes on
// every write, so a changed file is never mistaken for the old one.)
const contentMemo = new Map<string, string>();
const MEMO_LIMIT = 20_000;
const SMALL_FILE_BYTES = 1024 * 1024;

export async function fileDigest(entry: TreeEntry): Promise<string> {
  const key = `${entry.hostPath}\0${entry.ino}\0${entry.size}\0${entry.ctimeMs}\0${entry.mtimeMs}`;
  const known = contentMemo.get(key);
  if (known !== undefined) return known;
  const hash = createHash('sha256');
  // A small file in one read (at once in the command line, record-io.ts): a stream's open, reads
  // and close are a wait on the thread pool each, most of a cached COPY's time.
  if (entry.size <= SMALL_FILE_BYTES) hash.update(await readRecord(entry.hostPath));
  else for await (const chunk of createReadStream(entry.hostPath)) hash.update(chunk as Buffer);
  const digest = hash.digest('hex');
  if (contentMemo.size >= MEMO_LIMIT) contentMemo.clear();
  contentMemo.set(key, digest);
  return digest;
}
