// The host's pull-through cache: blobs by digest, shared by every session, so thirty learners
// pulling nginx fetch its layers once (and Docker Hub's rate limit is met once). A blob enters
// the cache only after its bytes hashed to its digest; a download in progress lives under
// partial/ and is resumed with a Range request after the registry (or the connection) went
// away, so a restart mid-pull costs only the bytes not yet received.
//
// Only a pull that fetched the manifest from the registry, with its learner's credentials,
// asks for a blob, so the cache gives nobody a blob their registry would not have given them.
//
// Its size is bounded (LAYERCAKE_REGISTRY_CACHE_SIZE): each blob added evicts the least recently
// used ones (a blob's mtime is its last use) down to the bound. A pull holds a lease on every blob
// it uses until it has copied them into the store (../leases/process-lease.ts), and a leased blob
// is never evicted, whichever of the host's processes (worker, `layercake pull`) evicts.
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readdir, rename, rm, stat, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { LearnerError } from '../../../protocol/errors.js';
import { isDigest, type Digest } from '../image-store/index.js';
import { liveKeys, takeLease, tryLock } from '../leases/process-lease.js';
import { isUnreachable, registryError, type DistributionClient } from './distribution-client.js';

export interface BlobProgress {
  digest: Digest;
  /** `cached`: already on this host; `downloading` as bytes arrive; `verified` once the digest matched. */
  status: 'cached' | 'downloading' | 'resumed' | 'verified';
  bytes: number;
  totalBytes: number;
}

export interface FetchStats {
  /** Bytes received from the registry for this blob (0 when it was cached). */
  fetchedBytes: number;
  /** Bytes a resumed download did not have to fetch again. */
  resumedFromBytes: number;
}

export interface BlobCacheOptions {
  /** How long a download keeps retrying a registry that went away (a restart) before giving up. */
  retryWindowMs?: number;
  /** Most bytes of blobs kept; beyond it the least recently used ones not in use go (default: no bound). */
  maxBytes?: number;
}

/** The blobs one pull reads: none of them is evicted until `release()`. */
export class BlobLease {
  private readonly releases: (() => Promise<void>)[] = [];

  constructor(private readonly dir: string) {}

  async hold(digest: Digest): Promise<void> {
    this.releases.push(await takeLease(this.dir, digest.slice(7)));
  }

  async release(): Promise<void> {
    for (const release of this.releases.splice(0)) await release();
  }
}

export class BlobCache {
  constructor(
    readonly root: string,
    private readonly options: BlobCacheOptions = {},
  ) {}

  path(digest: Digest): string {
    return join(this.root, 'blobs', 'sha256', digest.slice(7));
  }

  async has(digest: Digest): Promise<boolean> {
    return stat(this.path(digest)).then(() => true, () => false);
  }

  /** A lease for one pull's blobs (fetch's `lease`). */
  lease(): BlobLease {
    return new BlobLease(join(this.root, 'in-use'));
  }

  /** Bytes of the verified blobs, and each one's size and last use. */
  async blobs(): Promise<{ hex: string; bytes: number; usedMs: number }[]> {
    const dir = join(this.root, 'blobs', 'sha256');
    const out: { hex: string; bytes: number; usedMs: number }[] = [];
    for (const hex of await readdir(dir).catch(() => [] as string[])) {
      const s = await stat(join(dir, hex)).catch(() => null);
      if (s) out.push({ hex, bytes: s.size, usedMs: s.mtimeMs });
    }
    return out;
  }

  /**
   * Down to the bound: the least recently used blobs that no live process holds a lease on are
   * removed. One evictor at a time on the host (another one busy already does this work).
   * Returns the digests removed.
   */
  async evict(): Promise<Digest[]> {
    const max = this.options.maxBytes;
    if (max === undefined) return [];
    await mkdir(this.root, { recursive: true });
    const unlock = await tryLock(join(this.root, 'evict.lock'));
    if (unlock === null) return [];
    const removed: Digest[] = [];
    try {
      const blobs = await this.blobs();
      let total = blobs.reduce((sum, b) => sum + b.bytes, 0);
      if (total <= max) return [];
      const inUse = join(this.root, 'in-use');
      const held = await liveKeys(inUse);
      await mkdir(join(this.root, 'evicting'), { recursive: true });
      for (const blob of blobs.sort((a, b) => a.usedMs - b.usedMs)) {
        if (total <= max) break;
        if (held.has(blob.hex)) continue;
        // Moved aside first, then the leases read again: a pull that took its lease in between
        // (after the first read) gets the blob back instead of losing it under its feet.
        const aside = join(this.root, 'evicting', blob.hex);
        if (!(await rename(this.path(`sha256:${blob.hex}` as Digest), aside).then(() => true, () => false))) continue;
        if ((await liveKeys(inUse)).has(blob.hex)) {
          await rename(aside, this.path(`sha256:${blob.hex}` as Digest));
          continue;
        }
        await rm(aside, { force: true });
        total -= blob.bytes;
        removed.push(`sha256:${blob.hex}` as Digest);
      }
    } finally {
      await unlock();
    }
    return removed;
  }

  /**
   * The blob's path in the cache, fetching it from `repository` when it is not there yet.
   * Every byte is hashed on the way in; a blob whose bytes do not match is discarded and
   * refused (`registry.digestMismatch`), never cached.
   */
  async fetch(
    client: DistributionClient,
    repository: string,
    digest: Digest,
    size: number,
    onProgress: (p: BlobProgress) => void = () => {},
    testHooks: { onChunk?: (receivedBytes: number) => void } = {},
    lease?: BlobLease,
  ): Promise<{ path: string; stats: FetchStats }> {
    if (!isDigest(digest)) throw new LearnerError('registry.badManifest', { detail: `not a sha256 digest: ${digest}` });
    const done = this.path(digest);
    // Held before it is looked for: an eviction from now on leaves it (or puts it back).
    await lease?.hold(digest);
    if (await stat(done).then(() => true, () => false)) {
      // Its last use, for the eviction's order.
      const now = new Date();
      await utimes(done, now, now).catch(() => undefined);
      onProgress({ digest, status: 'cached', bytes: size, totalBytes: size });
      return { path: done, stats: { fetchedBytes: 0, resumedFromBytes: 0 } };
    }
    await mkdir(join(this.root, 'partial'), { recursive: true });
    await mkdir(join(this.root, 'blobs', 'sha256'), { recursive: true });
    const partial = join(this.root, 'partial', digest.slice(7));
    const stats: FetchStats = { fetchedBytes: 0, resumedFromBytes: 0 };
    const deadline = Date.now() + (this.options.retryWindowMs ?? 30_000);
    for (let attempt = 0; ; attempt++) {
      try {
        await this.download(client, repository, digest, size, partial, stats, onProgress, testHooks);
        break;
      } catch (err) {
        // A registry that went away mid-blob (restart, dropped connection): try again, from
        // where the partial file ends, until the retry window closes.
        const transient = isUnreachable(err) || (err as { transient?: boolean }).transient === true;
        if (!transient || Date.now() > deadline) throw err;
        await new Promise((r) => setTimeout(r, Math.min(200 * 2 ** attempt, 2000)));
      }
    }
    const actual = await hashFile(partial);
    if (actual !== digest) {
      await rm(partial, { force: true });
      throw new LearnerError('registry.digestMismatch', { digest, actual });
    }
    await rename(partial, done);
    onProgress({ digest, status: 'verified', bytes: size, totalBytes: size });
    await this.evict();
    return { path: done, stats };
  }

  private async download(
    client: DistributionClient,
    repository: string,
    digest: Digest,
    size: number,
    partial: string,
    stats: FetchStats,
    onProgress: (p: BlobProgress) => void,
    testHooks: { onChunk?: (receivedBytes: number) => void },
  ): Promise<void> {
    const have = await stat(partial).then((s) => s.size, () => 0);
    if (have > size) await rm(partial, { force: true });
    const from = have > size ? 0 : have;
    if (from === size && size > 0) return;
    const headers: Record<string, string> = from > 0 ? { range: `bytes=${from}-` } : {};
    const res = await client.send('GET', `/v2/${repository}/blobs/${digest}`, { headers, scope: `repository:${repository}:pull` });
    let res2 = res;
    // Blob GETs commonly redirect to storage (S3, a CDN); follow a few.
    for (let hops = 0; res2.status >= 300 && res2.status < 400 && res2.headers.location && hops < 5; hops++) {
      res2.body.resume();
      res2 = await client.send('GET', new URL(res2.headers.location, `http://${client.endpoint.host}`).toString(), { headers });
    }
    if (res2.status !== 200 && res2.status !== 206) {
      const detail = await registryError(res2);
      if (res2.status >= 500) throw Object.assign(new Error(detail), { transient: true });
      throw new LearnerError('registry.refused', { detail, status: String(res2.status) });
    }
    const resumed = res2.status === 206;
    if (resumed) {
      stats.resumedFromBytes = Math.max(stats.resumedFromBytes, from);
      onProgress({ digest, status: 'resumed', bytes: from, totalBytes: size });
    }
    let received = resumed ? from : 0;
    const out = createWriteStream(partial, { flags: resumed ? 'a' : 'w' });
    try {
      await new Promise<void>((resolve, reject) => {
        const body = res2.body;
        body.on('data', (chunk: Buffer) => {
          received += chunk.length;
          stats.fetchedBytes += chunk.length;
          if (received > size) {
            body.destroy();
            reject(new LearnerError('registry.digestMismatch', { digest, actual: `more than ${size} bytes` }));
            return;
          }
          if (!out.write(chunk)) {
            body.pause();
            out.once('drain', () => body.resume());
          }
          onProgress({ digest, status: 'downloading', bytes: received, totalBytes: size });
          testHooks.onChunk?.(received);
        });
        body.on('aborted', () => reject(Object.assign(new Error('connection closed mid-blob'), { transient: true })));
        body.on('error', (err) => reject(Object.assign(err, { transient: true })));
        body.on('end', () => {
          if (received < size) reject(Object.assign(new Error('blob ended early'), { transient: true }));
          else resolve();
        });
      });
    } finally {
      await new Promise<void>((r) => out.end(r));
    }
    if (received > size) await rm(partial, { force: true });
  }
}

export async function hashFile(path: string): Promise<Digest> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return `sha256:${hash.digest('hex')}` as Digest;
}
