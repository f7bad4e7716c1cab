// The build cache, as Docker's classic builder keeps it: a step is a hit when an earlier build
// ran the same instruction (after substitution, with the same build arguments in play, and for
// COPY/ADD the same source files) on the same parent image; the hit's result is that build's
// image for the step. Every decision comes with a reason a learner can read.
//
// Entries live per session (a learner's first build of a lesson is a "first time" even when
// another learner built the same thing):
//   <dataDir>/build-cache/<session>/<sha256(parent)>/<sha256(key)>.json
// One directory per parent image, so a miss can look at what was built on that parent before
// and say what changed. An entry whose image was removed is dropped when met.
import { mkdir, readdir, rename, rmdir, unlink, writeFile } from 'node:fs/promises';
import { createHash, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { z } from 'zod';
import { lazySchema } from '../../../protocol/lazy-schema.js';
import type { CacheReason } from '../../../protocol/events.js';
import type { Digest, ImageConfig } from '../image-store/index.js';
import { readRecord } from '../image-store/record-io.js';

/** Enough of an image config to go on building from (the store validated it when it stored it). */
const keptConfig = lazySchema(() =>
  z.custom<ImageConfig>(
    (value) => {
      const config = value as { rootfs?: { diff_ids?: unknown }; architecture?: unknown };
      return typeof value === 'object' && value !== null && typeof config.architecture === 'string' && Array.isArray(config.rootfs?.diff_ids);
    },
    { message: 'an image config' },
  ),
);

/** What a step's cache key is made of; each part explains a different kind of miss. */
export interface CacheKey {
  /** The instruction after substitution, as it affects the result (excluding files and args). */
  instruction: string;
  /** Digest of the source files (COPY/ADD), or of the source image and paths (COPY --from). */
  files?: string;
  /** Build arguments the step depends on (RUN sees every declared one; others what they used). */
  args?: Record<string, string>;
  /** The instruction as the learner wrote it, before substitution. */
  source: string;
}

const entrySchema = lazySchema(() =>
  z.object({
    imageId: z.string().regex(/^sha256:[0-9a-f]{64}$/),
    /**
     * The image's config, so a hit needs no store.inspect (which reads every tag in the store:
     * slow on a busy host). The image id, checked to exist, stays the identity.
     */
    config: keptConfig.optional(),
    instruction: z.string(),
    files: z.string().nullable(),
    args: z.record(z.string(), z.string()),
    source: z.string(),
    createdAt: z.string(),
  }),
);
type Entry = z.infer<typeof entrySchema>;

const hex = (text: string): string => createHash('sha256').update(text).digest('hex');

function sortedArgs(args: Record<string, string> | undefined): [string, string][] {
  return Object.entries(args ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

function keyDigest(parent: string, key: CacheKey): string {
  return hex(JSON.stringify([parent, key.instruction, key.files ?? null, sortedArgs(key.args)]));
}

export interface CacheLookup {
  hit: Digest | null;
  /** The hit's config, when the entry kept it. */
  config?: ImageConfig;
  /** The reason, when a miss (hits use cache.hit). */
  reason: CacheReason;
}

export class BuildCache {
  private readonly dir: string;

  constructor(
    dataDir: string,
    session: string,
    /** Whether an image still exists (an entry for a removed image is a miss). */
    private readonly imageExists: (id: Digest) => Promise<boolean>,
  ) {
    this.dir = join(dataDir, 'build-cache', session);
  }

  /** `parent` is the parent image id, or a fixed name such as `scratch`. */
  private parentDir(parent: string): string {
    return join(this.dir, hex(parent));
  }

  async lookup(parent: string, key: CacheKey): Promise<CacheLookup> {
    const dir = this.parentDir(parent);
    const path = join(dir, `${keyDigest(parent, key)}.json`);
    const entry = await readEntry(path);
    if (entry !== null) {
      if (await this.imageExists(entry.imageId as Digest)) {
        return { hit: entry.imageId as Digest, ...(entry.config ? { config: entry.config } : {}), reason: { key: 'cache.hit', facts: {} } };
      }
      await unlink(path).catch(() => undefined);
    }
    return { hit: null, reason: await this.explainMiss(dir, key) };
  }

  /** Why nothing matched: compare with what was built on this parent before. */
  private async explainMiss(dir: string, key: CacheKey): Promise<CacheReason> {
    const names = await readdir(dir).catch(() => [] as string[]);
    const earlier: Entry[] = [];
    for (const name of names) {
      if (!name.endsWith('.json')) continue;
      const entry = await readEntry(join(dir, name));
      if (entry !== null && (await this.imageExists(entry.imageId as Digest))) earlier.push(entry);
    }
    if (earlier.length === 0) return { key: 'cache.miss.firstTime', facts: {} };
    earlier.sort((a, b) => (a.createdAt < b.createdAt ? 1 : -1));
    const args = JSON.stringify(sortedArgs(key.args));
    const sameFilesAside = earlier.find((e) => e.instruction === key.instruction && JSON.stringify(sortedArgs(e.args)) === args);
    if (sameFilesAside !== undefined) return { key: 'cache.miss.filesChanged', facts: {} };
    const sameSource = earlier.find((e) => e.source === key.source);
    if (sameSource !== undefined) {
      const changed = new Set<string>();
      const now = key.args ?? {};
      for (const name of new Set([...Object.keys(now), ...Object.keys(sameSource.args)])) {
        if (now[name] !== sameSource.args[name]) changed.add(name);
      }
      return { key: 'cache.miss.argChanged', facts: { args: [...changed].sort().join(', ') } };
    }
    return { key: 'cache.miss.instructionChanged', facts: { previous: earlier[0]!.source } };
  }

  /** Drops every entry whose image is gone (rmi, the cache's collection), and emptied parent directories. */
  async prune(): Promise<number> {
    let dropped = 0;
    for (const parent of await readdir(this.dir).catch(() => [] as string[])) {
      const dir = join(this.dir, parent);
      const names = await readdir(dir).catch(() => [] as string[]);
      let left = names.length;
      for (const name of names) {
        const entry = name.endsWith('.json') ? await readEntry(join(dir, name)) : null;
        if (entry !== null && (await this.imageExists(entry.imageId as Digest))) continue;
        await unlink(join(dir, name)).catch(() => undefined);
        dropped++;
        left--;
      }
      if (left === 0) await rmdir(dir).catch(() => undefined);
    }
    return dropped;
  }

  async record(parent: string, key: CacheKey, imageId: Digest, config: ImageConfig): Promise<void> {
    const dir = this.parentDir(parent);
    await mkdir(dir, { recursive: true });
    const entry: Entry = {
      imageId,
      config,
      instruction: key.instruction,
      files: key.files ?? null,
      args: Object.fromEntries(sortedArgs(key.args)),
      source: key.source,
      createdAt: new Date().toISOString(),
    };
    const path = join(dir, `${keyDigest(parent, key)}.json`);
    // Renamed into place: a concurrent build of the same session reads a whole entry or none.
    const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}`;
    await writeFile(tmp, JSON.stringify(entry));
    await rename(tmp, path);
  }
}

async function readEntry(path: string): Promise<Entry | null> {
  try {
    // Read at once in the command line (record-io.ts): each step of a rebuild reads one entry.
    const parsed = entrySchema.safeParse(JSON.parse(await readRecord(path, 'utf8')));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}
