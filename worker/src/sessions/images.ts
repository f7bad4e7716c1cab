// What one learner session sees of the host's image store. The store is shared (layers are
// content-addressed, base images exist once), but names are not: a learner's `app:latest`
// is stored as `local.layercake/<session>/app:latest`, and ids resolve only to images the
// session made or the base images, so no session can reach another's images even by id.
// Base image names (busybox, debian:bookworm-slim…) are reserved: no learner name may be one,
// whether that base image is built on this host yet or not.
import { access, mkdir, readdir, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { LearnerError } from '../../../protocol/errors.js';
import { availableBaseImages } from '../base-images/index.js';
import {
  formatReference,
  ImageStore,
  ImageStoreError,
  parseReference,
  type Digest,
  type Image,
  type ImageReference,
  type ImageSummary,
} from '../image-store/index.js';
import { listRecords } from '../image-store/record-io.js';

const PREFIX = 'local.layercake';
const SESSION = /^[a-z0-9]{1,64}$/;
/** A store name in some session's names (`local.layercake/<session>/<name>`). */
const QUALIFIED = /^local\.layercake\/[a-z0-9]{1,64}\/(.+)$/;

const HOST_MARK = 'host.';

/** `host.localhost__5000/s1/app:v1` → `localhost:5000/s1/app:v1` (see qualify). */
function unmarkHost(name: string): string {
  return name.startsWith(HOST_MARK) && name.indexOf('/') > 0 ? name.slice(HOST_MARK.length).replace('__', ':') : name;
}

/** Every base image's names, as the store writes them: reserved whether built yet or not. */
export function baseImageNames(): Set<string> {
  return new Set(availableBaseImages().flatMap((b) => b.tags.map((t) => formatReference(parseReference(t)))));
}

/** Whether `ref` names a base image (`busybox`, `debian:12-slim`…). */
export function isBaseName(ref: string): boolean {
  try {
    return baseImageNames().has(formatReference(parseReference(ref)));
  } catch {
    return false;
  }
}

export class SessionImages {
  private readonly ownedDir: string;
  private readonly sessionsDir: string;

  constructor(
    readonly store: ImageStore,
    readonly session: string,
    readonly dataDir: string,
  ) {
    if (!SESSION.test(session)) throw new Error(`session id must be 1-64 lowercase letters or digits: ${session}`);
    this.sessionsDir = join(dataDir, 'sessions');
    this.ownedDir = join(this.sessionsDir, session, 'images');
  }

  /** The store's name for a learner's image name, e.g. `app` → `local.layercake/s1/app:latest`. */
  qualify(name: string): string {
    const ref = parseReference(name);
    // A registry host (`localhost:5000/s1/app`, pulled or about to be pushed) is kept as one
    // path component, `host.localhost__5000`, since `:` may not appear inside a repository.
    const parts = ref.repository.split('/');
    const first = parts[0]!;
    if (parts.length > 1 && (first.includes('.') || first.includes(':') || first === 'localhost')) {
      parts[0] = `${HOST_MARK}${first.toLowerCase().replace(':', '__')}`;
    }
    return formatReference({ repository: `${PREFIX}/${this.session}/${parts.join('/')}`, tag: ref.tag });
  }

  /**
   * The store name for a name the learner is about to write (tag, build -t, commit, load): a
   * base image's name is refused, so no learner's image can stand in for one.
   */
  writableName(name: string): string {
    if (isBaseName(name)) throw new LearnerError('image.baseNameReserved', { ref: formatReference(parseReference(name)) });
    return this.qualify(name);
  }

  /**
   * The store name an archive's tag gets when this session loads it: its name inside the
   * session, whichever session (or none) the archive was saved from. Null for a base image's
   * name on that very base image (loading a saved busybox gives back what is there); any other
   * image under a base image's name is refused.
   */
  loadedName(tag: ImageReference, imageId: Digest, baseIds: ReadonlySet<Digest>): ImageReference | null {
    const name = formatReference(tag);
    const learnerName = unmarkHost(QUALIFIED.exec(name)?.[1] ?? name);
    if (isBaseName(learnerName) && baseIds.has(imageId)) return null;
    return parseReference(this.writableName(learnerName));
  }

  /** The learner's name for a store name, or null when it is not this session's. */
  unqualify(storeName: string): string | null {
    const head = `${PREFIX}/${this.session}/`;
    return storeName.startsWith(head) ? unmarkHost(storeName.slice(head.length)) : null;
  }

  private baseNames(): Set<string> {
    return baseImageNames();
  }

  /** Record that this session made the image (build, commit, load), so its id resolves here. */
  async own(id: Digest): Promise<void> {
    await mkdir(this.ownedDir, { recursive: true });
    await writeFile(join(this.ownedDir, id.slice('sha256:'.length)), '');
  }

  async disown(id: Digest): Promise<void> {
    await unlink(join(this.ownedDir, id.slice('sha256:'.length))).catch(() => {});
  }

  /** Whether another session holds the image too (made, built or loaded the same content). */
  async ownedElsewhere(id: Digest): Promise<boolean> {
    const hex = id.slice('sha256:'.length);
    for (const other of await readdir(this.sessionsDir).catch(() => [] as string[])) {
      if (other === this.session) continue;
      if (await access(join(this.sessionsDir, other, 'images', hex)).then(() => true, () => false)) return true;
    }
    return false;
  }

  async owned(): Promise<Set<Digest>> {
    const names = await listRecords(this.ownedDir).catch(() => [] as string[]);
    return new Set(names.map((n) => `sha256:${n}` as Digest));
  }

  /** Resolve a learner's reference: their own names first, then base images, then ids they may see. */
  async resolve(ref: string): Promise<Digest> {
    const hex = ref.startsWith('sha256:') ? ref.slice(7) : ref;
    if (/^[0-9a-f]{4,64}$/.test(hex)) {
      const visible = [...(await this.owned()), ...(await this.baseIds())];
      const matches = [...new Set(visible.filter((id) => id.slice(7).startsWith(hex)))];
      if (matches.length === 1) return matches[0]!;
      if (matches.length > 1) throw new ImageStoreError('image.ambiguous', `${ref} matches several images`, { ref, matches: matches.map((m) => m.slice(7, 19)) });
    }
    let parsed;
    try {
      parsed = formatReference(parseReference(ref));
    } catch {
      throw new ImageStoreError('image.notFound', `No such image: ${ref}`, { ref });
    }
    // The session's own name first, then the base image's: both looked up at once (a build's FROM
    // waits for this before build.started), the first that exists wins.
    const candidates = [this.qualify(ref), ...(this.baseNames().has(parsed) ? [parsed] : [])];
    for (const found of await Promise.allSettled(candidates.map((candidate) => this.store.resolve(candidate)))) {
      if (found.status === 'fulfilled') return found.value;
      const err: unknown = found.reason;
      if (!(err instanceof ImageStoreError) || err.key !== 'image.notFound') throw err;
    }
    throw new ImageStoreError('image.notFound', `No such image: ${ref}`, { ref });
  }

  async baseIds(): Promise<Digest[]> {
    const ids: Digest[] = [];
    for (const name of this.baseNames()) {
      try {
        ids.push(await this.store.resolve(name));
      } catch {
        /* not built on this host yet */
      }
    }
    return ids;
  }

  /** `docker images` for this session: its own tags, plus the base images (of `all`, when the caller read them already). */
  async list(all?: readonly Image[]): Promise<ImageSummary[]> {
    const base = this.baseNames();
    const out: ImageSummary[] = [];
    for (const row of all ? ImageStore.summaries(all) : await this.store.list()) {
      const name = `${row.repository}:${row.tag}`;
      const mine = this.unqualify(name);
      if (mine !== null) {
        const r = parseReference(mine);
        out.push({ ...row, repository: r.repository, tag: r.tag });
      } else if (base.has(name)) {
        out.push(row);
      }
    }
    return out;
  }

  /** Returns the image the name pointed at before, if another (store.tag). */
  async tag(imageId: Digest, name: string): Promise<Digest | null> {
    const target = this.writableName(name);
    await this.own(imageId);
    return this.store.tag(imageId, target);
  }
}
