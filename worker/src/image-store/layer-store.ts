/**
 * Layers: directories overlayfs stacks directly, each with its OCI identity.
 *
 * A layer is built in tmp/ (moved there from a container's upper dir, or extracted from a tar),
 * identified (diff_id = sha256 of its deterministic tar; chain_id from its parent), and only
 * then renamed to layers/<chain-id>: rename is atomic, so a layer directory either is complete,
 * record included, or does not exist. A crash leaves only a tmp/ entry, which cleanup() removes.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { chmod, chown, mkdir, open, readdir, readFile, rename, rm, unlink, writeFile, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { chainIdOf, digestHex, isDigest, type Digest } from './digest.js';
import { ImageStoreError, formatBytes } from './errors.js';
import type { ExtractLimits } from './layer-extract.js';
import type { StorePaths } from './paths.js';
import { readRecord } from './record-io.js';
import type { LayerRecord } from './schemas.js';
import type { Change } from './upper-diff.js';

// What writes, copies and hashes layers is loaded by the operations that do it: reading records
// (`layercake images`, `ps`) loads none of it.
const layerTar = () => import('./layer-tar.js');
const copyTreeBeneath: typeof import('./tree-beneath.js').copyTreeBeneath = async (...args) => (await import('./tree-beneath.js')).copyTreeBeneath(...args);

export type { LayerRecord } from './schemas.js';

/** A layer complete in tmp/, waiting to be published under the store lock. */
export interface StagedLayer {
  tmp: string;
  record: LayerRecord;
}

export interface CommitOptions {
  source?: LayerRecord['source'];
  /**
   * Copy the directory instead of moving it: `docker commit` keeps the container, and with it
   * its upper dir. (Build steps move: their upper is done with.)
   */
  copy?: boolean;
  /** Also return the list of changes (as `docker diff` prints them). */
  collectChanges?: boolean;
  /** With `copy`: the most data the copy may write (a running container may move files ahead of it). */
  maxCopyBytes?: number;
  /** Stops the copy and identifying the layer (its tar and hash) when aborted; the staged copy is removed. */
  signal?: AbortSignal;
}

/**
 * Copies a directory with everything a layer keeps: owners, modes, times, xattrs, hard links,
 * device nodes. The source may be a running container's upper: fstree reads it fd-relative,
 * so what the container swaps in meanwhile cannot lead the copy out of it (tree-beneath.ts).
 */
const copyDir = copyTreeBeneath;

/** Moves a directory; true if it was renamed (and so can be renamed back), false if copied. */
async function moveDir(from: string, to: string): Promise<boolean> {
  try {
    await rename(from, to);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EXDEV') throw err;
    // The upper lives on another filesystem: copy, then remove the original.
    await copyDir(from, to);
    await rm(from, { recursive: true, force: true });
    return false;
  }
}

export class LayerStore {
  constructor(
    private readonly paths: StorePaths,
    private readonly log: Logger,
  ) {}

  diffDir(chainId: Digest): string {
    return this.paths.layerDiff(chainId);
  }

  async get(chainId: Digest): Promise<LayerRecord | null> {
    let text: string;
    try {
      text = await readRecord(join(this.paths.layer(chainId), 'layer.json'), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
    // Written only by this file (commit and load, each from a LayerRecord literal), before its
    // directory is renamed into place: read back as written, without the schema's check, which
    // costs a listing many times the parse (`layercake images` reads every image's layers).
    return JSON.parse(text) as LayerRecord;
  }

  async require(chainId: Digest): Promise<LayerRecord> {
    const layer = await this.get(chainId);
    if (layer === null) {
      throw new ImageStoreError('layer.missing', `layer ${chainId} is not in the image store`, { layer: chainId });
    }
    return layer;
  }

  async list(): Promise<LayerRecord[]> {
    const out: LayerRecord[] = [];
    for (const name of await readdir(this.paths.layersDir).catch(() => [] as string[])) {
      const chainId = `sha256:${name}`;
      if (!isDigest(chainId)) continue;
      const layer = await this.get(chainId);
      if (layer !== null) out.push(layer);
    }
    return out;
  }

  /** The layer and all below it, bottom first. */
  async stack(chainId: Digest | null): Promise<LayerRecord[]> {
    const out: LayerRecord[] = [];
    for (let next = chainId; next !== null; ) {
      const layer = await this.require(next);
      out.unshift(layer);
      next = layer.parent;
    }
    return out;
  }

  /** The diff directories of a stack, topmost first: overlayfs's lowerdir order. */
  async lowerDirs(chainId: Digest | null): Promise<string[]> {
    return (await this.stack(chainId)).reverse().map((layer) => this.diffDir(layer.chainId));
  }

  private async newStagingDir(): Promise<string> {
    await mkdir(this.paths.tmpDir, { recursive: true });
    const tmp = this.paths.newTmp('layer');
    await mkdir(tmp);
    return tmp;
  }

  /**
   * Moves (or copies) `sourceDir` (an overlay upper dir that is not being written to, or any
   * directory laid out as a layer) into tmp/ and identifies it. On failure a moved directory is
   * moved back where possible, so a container whose diff cannot become a layer keeps its files.
   */
  async stageDirectory(
    sourceDir: string,
    parent: Digest | null,
    options: CommitOptions = {},
  ): Promise<{ staged: StagedLayer; changes: Change[] }> {
    const tmp = await this.newStagingDir();
    const diff = join(tmp, 'diff');
    let renamed = false;
    try {
      if (options.copy) await copyTreeBeneath(sourceDir, diff, { maxBytes: options.maxCopyBytes, ...(options.signal ? { signal: options.signal } : {}) });
      else renamed = await moveDir(sourceDir, diff);
      // The root's own attributes are not part of a layer tar; keep them what overlay expects.
      await chown(diff, 0, 0);
      await chmod(diff, 0o755);
      const lowers = await this.lowerDirs(parent);
      const [{ diffUpper }, { digestLayerDir }] = await Promise.all([import('./upper-diff.js'), layerTar()]);
      const { counts, changes } = await diffUpper(diff, lowers, { normalise: true, collect: options.collectChanges });
      const { diffId, summary } = await digestLayerDir(diff, options.signal);
      const record: LayerRecord = {
        chainId: chainIdOf(parent, diffId),
        diffId,
        parent,
        size: summary.contentBytes,
        tarSize: summary.tarBytes,
        changes: counts,
        createdAt: new Date().toISOString(),
        source: options.source ?? 'commit',
        originalTar: false,
      };
      await writeFile(join(tmp, 'layer.json'), JSON.stringify(record));
      return { staged: { tmp, record }, changes };
    } catch (err) {
      if (renamed) await rename(diff, sourceDir).catch(() => undefined);
      await rm(tmp, { recursive: true, force: true });
      throw err;
    }
  }

  /**
   * Extracts a layer tar into tmp/ and checks it against `expectedDiffId` (sha256 of the
   * uncompressed tar, from the image config). If re-serialising the result does not give back
   * the same bytes (a tar made by another tool), the original tar is kept beside the layer so
   * that saving the image later still matches its config.
   */
  async stageTar(
    source: AsyncIterable<Buffer>,
    parent: Digest | null,
    expectedDiffId: Digest,
    limits: ExtractLimits,
  ): Promise<StagedLayer> {
    const tmp = await this.newStagingDir();
    let tee: FileHandle | null = null;
    try {
      const diff = join(tmp, 'diff');
      await mkdir(diff);
      await chmod(diff, 0o755);
      tee = await open(join(tmp, 'layer.tar'), 'wx', 0o600);
      const hash = createHash('sha256');
      let tarBytes = 0;
      // The raw tar is bounded too: padding and headers could otherwise inflate it without limit.
      const maxTarBytes = limits.maxLayerBytes + 64 * 1024 ** 2;
      const teeHandle = tee;
      const counted = (async function* () {
        for await (const chunk of source) {
          tarBytes += chunk.length;
          if (tarBytes > maxTarBytes) {
            throw new ImageStoreError('archive.tooLarge', `layer tar exceeds ${formatBytes(maxTarBytes)}`, { limit: formatBytes(maxTarBytes) });
          }
          hash.update(chunk);
          await teeHandle.write(chunk);
          yield chunk;
        }
      })();
      await (await import('./layer-extract.js')).extractLayerTar(counted, diff, limits);
      for await (const _ of counted); // bytes after the end-of-archive blocks count for the digest
      await tee.close();
      tee = null;

      const actual: Digest = `sha256:${hash.digest('hex')}`;
      if (actual !== expectedDiffId) {
        throw new ImageStoreError('archive.digestMismatch', `layer content does not match its digest: expected ${expectedDiffId}, got ${actual}`, {
          item: `layer ${expectedDiffId.slice(7, 19)}`,
          expected: expectedDiffId,
          actual,
        });
      }
      const regenerated = await (await layerTar()).digestLayerDir(diff);
      const originalTar = regenerated.diffId !== actual;
      if (!originalTar) await unlink(join(tmp, 'layer.tar'));
      const record: LayerRecord = {
        chainId: chainIdOf(parent, actual),
        diffId: actual,
        parent,
        size: regenerated.summary.contentBytes,
        tarSize: tarBytes,
        changes: null,
        createdAt: new Date().toISOString(),
        source: 'load',
        originalTar,
      };
      await writeFile(join(tmp, 'layer.json'), JSON.stringify(record));
      return { tmp, record };
    } catch (err) {
      await tee?.close().catch(() => undefined);
      await rm(tmp, { recursive: true, force: true });
      throw err;
    }
  }

  /**
   * Renames a staged layer into place. Call with the store lock held. If the same chain id is
   * already there (the same change on the same parent), the staged copy is dropped.
   */
  async publish(staged: StagedLayer): Promise<LayerRecord> {
    const { record } = staged;
    if (record.parent !== null) await this.require(record.parent);
    const existing = await this.get(record.chainId);
    if (existing !== null) {
      await rm(staged.tmp, { recursive: true, force: true });
      return existing;
    }
    await mkdir(this.paths.layersDir, { recursive: true });
    await rename(staged.tmp, this.paths.layer(record.chainId));
    this.log.debug({ chainId: record.chainId, size: record.size, changes: record.changes }, 'layer committed');
    return record;
  }

  async discard(staged: StagedLayer): Promise<void> {
    await rm(staged.tmp, { recursive: true, force: true });
  }

  /** Removes a layer. Call with the store lock held, after checking nothing references it. */
  async remove(chainId: Digest): Promise<void> {
    await mkdir(this.paths.tmpDir, { recursive: true });
    const trash = this.paths.newTmp('trash');
    // Rename first: the layer disappears atomically; a crash mid-delete leaves only tmp/ debris.
    try {
      await rename(this.paths.layer(chainId), trash);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    await rm(trash, { recursive: true, force: true });
    this.log.debug({ chainId }, 'layer removed');
  }

  /** The layer's tar: the kept original if there is one, else re-serialised from the directory. */
  async *tar(layer: LayerRecord): AsyncGenerator<Buffer> {
    if (layer.originalTar) {
      for await (const chunk of createReadStream(join(this.paths.layer(layer.chainId), 'layer.tar'))) yield chunk as Buffer;
      return;
    }
    yield* (await layerTar()).layerTar(this.diffDir(layer.chainId));
  }

  /** Hex chain ids of directories under layers/, complete or not. */
  async directoryNames(): Promise<string[]> {
    return readdir(this.paths.layersDir).catch(() => []);
  }

  layerPathFromHex(hex: string): string {
    return join(this.paths.layersDir, hex);
  }

  static hexOf(chainId: Digest): string {
    return digestHex(chainId);
  }
}
