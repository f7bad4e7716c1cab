/**
 * Image names and tags (`repo:tag`, default tag `latest`), following Docker's reference grammar
 * (distribution/reference): lowercase path components separated by `/`, optionally behind a
 * registry host; names are kept in Docker's familiar form (`busybox`, not
 * `docker.io/library/busybox`), which is what `docker images` shows and `docker save` writes.
 *
 * Each tag is one file under refs/, written to tmp/ and renamed into place, so concurrent
 * writers never see a half-written tag and need no lock.
 */
import { mkdir, readdir, readFile, rename, rmdir, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isDigest, type Digest } from './digest.js';
import { ImageStoreError } from './errors.js';
import type { StorePaths } from './paths.js';
import { listRecords, readRecord, recordExists } from './record-io.js';

export interface ImageReference {
  /** Familiar repository name, e.g. `busybox`, `learner/app`, `localhost:5000/app`. */
  repository: string;
  tag: string;
}

export const DEFAULT_TAG = 'latest';

const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const DOMAIN = /^(?:localhost|[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*)(?::\d+)?$/;
const TAG = /^[\w][\w.-]{0,127}$/;

function invalid(input: string, reason: string): ImageStoreError {
  return new ImageStoreError('reference.invalid', `invalid reference format "${input}": ${reason}`, { ref: input, reason });
}

/** Parses `name[:tag]`. Digest references (`name@sha256:…`) are not supported by this store. */
export function parseReference(input: string): ImageReference {
  if (input.includes('@')) throw invalid(input, 'digest references are not supported');
  const lastSlash = input.lastIndexOf('/');
  const colon = input.indexOf(':', lastSlash + 1);
  const name = colon === -1 ? input : input.slice(0, colon);
  const tag = colon === -1 ? DEFAULT_TAG : input.slice(colon + 1);
  if (!TAG.test(tag)) throw invalid(input, 'a tag is letters, digits, "_", "." and "-", at most 128, not starting with "." or "-"');
  if (name.length === 0 || name.length > 255) throw invalid(input, 'a repository name is 1 to 255 characters');

  const parts = name.split('/');
  let domain: string | null = null;
  const first = parts[0]!;
  if (parts.length > 1 && (first.includes('.') || first.includes(':') || first === 'localhost' || first !== first.toLowerCase())) {
    if (!DOMAIN.test(first)) throw invalid(input, `"${first}" is not a valid registry host`);
    domain = parts.shift()!;
  }
  for (const part of parts) {
    if (part !== part.toLowerCase()) throw invalid(input, 'repository name must be lowercase');
    if (!PATH_COMPONENT.test(part)) throw invalid(input, `"${part}" is not a valid repository name component`);
  }
  if (domain === null && parts.length === 1 && /^[0-9a-f]{64}$/.test(parts[0]!)) {
    throw invalid(input, 'a repository name cannot be a 64-character hexadecimal string (that is an image id)');
  }
  // Familiar form: Docker Hub's host and its `library/` namespace are implied.
  if (domain === 'docker.io' || domain === 'index.docker.io') {
    domain = null;
    if (parts.length === 2 && parts[0] === 'library') parts.shift();
  }
  return { repository: domain === null ? parts.join('/') : `${domain}/${parts.join('/')}`, tag };
}

export function tryParseReference(input: string): ImageReference | null {
  try {
    return parseReference(input);
  } catch {
    return null;
  }
}

/** `repo:tag`, as `docker images` and manifest.json's RepoTags write it. */
export function formatReference(ref: ImageReference): string {
  return `${ref.repository}:${ref.tag}`;
}

/** The fully qualified name containerd records in an OCI index (`io.containerd.image.name`). */
export function qualifiedReference(ref: ImageReference): string {
  const first = ref.repository.split('/')[0]!;
  const hasDomain = ref.repository.includes('/') && (first.includes('.') || first.includes(':') || first === 'localhost');
  if (hasDomain) return formatReference(ref);
  const path = ref.repository.includes('/') ? ref.repository : `library/${ref.repository}`;
  return `docker.io/${path}:${ref.tag}`;
}

/** Whether the user named only a repository (`docker save busybox` saves all its tags). */
export function hasExplicitTag(input: string): boolean {
  return input.indexOf(':', input.lastIndexOf('/') + 1) !== -1;
}

/**
 * Names and times in code-point order, as Go's sort.Strings orders Docker's: the first
 * localeCompare of a process sets up ICU's collator, which cost `layercake images` 20-40 ms, for
 * names that are ASCII (references) or timestamps of one format.
 */
export function byCodePoint(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Tags are files under refs/ (the truth). Beside them, refs-by-image/<image hex>/<tag> markers
 * answer "which tags name this image" without reading every tag in the store (156 ms per
 * inspect with 1000 tags, before). Markers are hints: each is checked against its tag file,
 * and the index is rebuilt from refs/ when it was never completed (an older store).
 */
export class RefStore {
  private indexReady: Promise<void> | null = null;

  constructor(private readonly paths: StorePaths) {}

  private file(ref: ImageReference): string {
    return join(this.paths.refsDir, encodeURIComponent(formatReference(ref)));
  }

  private get indexDir(): string {
    return join(this.paths.root, 'refs-by-image');
  }

  private marker(imageId: Digest, ref: ImageReference): string {
    return join(this.indexDir, imageId.slice('sha256:'.length), encodeURIComponent(formatReference(ref)));
  }

  private async addMarker(imageId: Digest, ref: ImageReference): Promise<void> {
    const m = this.marker(imageId, ref);
    for (let attempt = 0; ; attempt++) {
      await mkdir(join(m, '..'), { recursive: true });
      try {
        await writeFile(m, '');
        return;
      } catch (err) {
        // The directory was removed as its last marker went, between the mkdir and the write.
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || attempt >= 3) throw err;
      }
    }
  }

  /** Removes a marker, and its image's directory once it is the last (no empty directory per removed image). */
  private async dropMarker(imageId: Digest, ref: ImageReference): Promise<void> {
    const m = this.marker(imageId, ref);
    await unlink(m).catch(() => {});
    await rmdir(join(m, '..')).catch(() => {}); // ENOTEMPTY: other tags still name the image
  }

  private async ensureIndex(): Promise<void> {
    this.indexReady ??= (async () => {
      const complete = join(this.indexDir, '.complete');
      if (await recordExists(complete)) return;
      for (const { ref, imageId } of await this.list()) await this.addMarker(imageId, ref);
      await mkdir(this.indexDir, { recursive: true });
      await writeFile(complete, '');
    })();
    return this.indexReady;
  }

  /** The tags that name `imageId`. */
  async tagsOf(imageId: Digest): Promise<ImageReference[]> {
    await this.ensureIndex();
    const dir = join(this.indexDir, imageId.slice('sha256:'.length));
    const out: ImageReference[] = [];
    // Most images (a build's steps) have no tag and so no directory here: nothing to tidy.
    const names = await listRecords(dir).catch(() => null);
    for (const name of names ?? []) {
      const ref = tryParseReference(decodeURIComponent(name));
      if (ref === null) continue;
      if ((await this.get(ref)) === imageId) out.push(ref);
      else await unlink(join(dir, name)).catch(() => {}); // a stale hint
    }
    if (names !== null && out.length === 0) await rmdir(dir).catch(() => {});
    return out.sort((a, b) => byCodePoint(formatReference(a), formatReference(b)));
  }

  async get(ref: ImageReference): Promise<Digest | null> {
    try {
      const id = (await readRecord(this.file(ref), 'utf8')).trim();
      return isDigest(id) ? id : null;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
  }

  /** Points `ref` at `imageId`; returns the image it pointed at before, if another. */
  async set(ref: ImageReference, imageId: Digest): Promise<Digest | null> {
    const previous = await this.get(ref);
    // Already so (a rebuild tagging what it tagged last time): the file stays as it is.
    if (previous !== imageId) {
      await mkdir(this.paths.refsDir, { recursive: true });
      await mkdir(this.paths.tmpDir, { recursive: true });
      const tmp = this.paths.newTmp('ref');
      await writeFile(tmp, `${imageId}\n`);
      await rename(tmp, this.file(ref));
    }
    await this.ensureIndex();
    await this.addMarker(imageId, ref);
    if (previous !== null && previous !== imageId) await this.dropMarker(previous, ref);
    return previous !== null && previous !== imageId ? previous : null;
  }

  async delete(ref: ImageReference): Promise<boolean> {
    const imageId = await this.get(ref);
    if (imageId !== null) await this.dropMarker(imageId, ref);
    try {
      await unlink(this.file(ref));
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw err;
    }
  }

  async list(): Promise<{ ref: ImageReference; imageId: Digest }[]> {
    const out: { ref: ImageReference; imageId: Digest }[] = [];
    for (const name of await readdir(this.paths.refsDir).catch(() => [] as string[])) {
      let ref: ImageReference;
      try {
        ref = parseReference(decodeURIComponent(name));
      } catch {
        continue; // not a tag file
      }
      const imageId = await this.get(ref);
      if (imageId !== null) out.push({ ref, imageId });
    }
    return out.sort((a, b) => byCodePoint(formatReference(a.ref), formatReference(b.ref)));
  }
}
