/**
 * Base images available without a registry: `busybox` (from Debian's busybox-static, built in
 * a second), `debian:bookworm-slim` (mmdebstrap from Debian's archive, a minute or more), and
 * `layercake/bench` (the same with sysbench and iperf3: what `compare` runs) and `node:18`
 * (the same with Debian's nodejs and npm): these two are built when first needed, never at
 * start-up unless named in LAYERCAKE_BASE_IMAGES.
 * Each is built once per store and rebuilt only when missing; a named lock keeps two workers
 * from building the same one at the same time.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { pino, type Logger } from 'pino';
import { ImageStoreError } from '../image-store/errors.js';
import { formatReference, tryParseReference } from '../image-store/references.js';
import type { Image, ImageConfigInput, ImageStore } from '../image-store/store.js';
import { buildBusyboxRootfs } from './busybox.js';
import { DEBIAN_SUITE, buildDebianSlimRootfs } from './debian-slim.js';

export type BaseImageName = 'busybox' | 'debian' | 'bench' | 'node';

export interface BaseImage {
  name: BaseImageName;
  /** Every tag the image gets; the first is its canonical name. */
  tags: readonly string[];
  description: string;
}

export const BASE_IMAGES: readonly BaseImage[] = Object.freeze([
  { name: 'busybox', tags: ['busybox:latest'], description: 'BusyBox from Debian’s busybox-static: one static binary, a shell and ~270 tools' },
  {
    name: 'debian',
    tags: ['debian:bookworm-slim', 'debian:12-slim'],
    description: 'Debian 12 (bookworm), minimal: Essential packages and apt, without docs, man pages or locales',
  },
  {
    name: 'bench',
    tags: ['layercake/bench:latest', 'layercake/bench:bookworm'],
    description: 'debian:bookworm-slim with sysbench and iperf3 from Debian: the benchmarks `layercake compare` runs',
  },
  {
    // Docker Hub's node images bring node and npm on Debian; this one takes both from Debian's
    // own packages (node 18), so `FROM node:18` and `npm install` work offline of any registry.
    name: 'node',
    tags: ['node:18-bookworm-slim', 'node:18-slim', 'node:18'],
    description: 'debian:bookworm-slim with Node.js 18 and npm from Debian’s nodejs and npm packages',
  },
]);

/** The packages the bench image adds to the slim Debian one. */
export const BENCH_PACKAGES: readonly string[] = Object.freeze(['sysbench', 'iperf3']);
/** What the node image adds: Debian's node and npm (npm's CA bundle comes with it). */
export const NODE_PACKAGES: readonly string[] = Object.freeze(['nodejs', 'npm', 'ca-certificates']);

/** The base images a FROM line can name without a registry (the builder lists these). */
export function availableBaseImages(): readonly BaseImage[] {
  return BASE_IMAGES;
}

/** The base image a reference like `busybox` or `debian:12-slim` names, if any. */
export function baseImageFor(ref: string): BaseImage | null {
  const parsed = tryParseReference(ref);
  if (parsed === null) return null;
  const name = formatReference(parsed);
  return BASE_IMAGES.find((image) => image.tags.includes(name)) ?? null;
}

const PATH_ENV = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

function ociArchitecture(): string {
  const map: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x' };
  return map[process.arch] ?? process.arch;
}

interface BuiltRootfs {
  created: string;
  layerCreatedBy: string;
  cmd: string[];
}

async function buildRootfs(base: BaseImage, scratch: string, rootfs: string, log: Logger): Promise<BuiltRootfs> {
  if (base.name === 'busybox') {
    await mkdir(rootfs);
    const built = await buildBusyboxRootfs(rootfs);
    return {
      created: new Date(built.mtime * 1000).toISOString(),
      layerCreatedBy: `layercake: busybox-static ${built.version} from Debian (/bin/busybox and ${built.applets} applet links)`,
      cmd: ['sh'],
    };
  }
  const include = base.name === 'bench' ? BENCH_PACKAGES : base.name === 'node' ? NODE_PACKAGES : [];
  const built = await buildDebianSlimRootfs(rootfs, scratch, log, include);
  return {
    created: new Date().toISOString(),
    layerCreatedBy: `layercake: mmdebstrap --variant=minbase ${include.length ? `--include=${include.join(',')} ` : ''}${DEBIAN_SUITE} (Debian ${built.debianVersion}; slim: no docs, man pages or locales)`,
    // As Docker Hub's node images: a bare `docker run node:18` opens node's REPL.
    cmd: base.name === 'node' ? ['node'] : ['bash'],
  };
}

async function firstPresent(store: ImageStore, tags: readonly string[]): Promise<string | null> {
  for (const tag of tags) {
    try {
      await store.resolve(tag);
      return tag;
    } catch (err) {
      if (!(err instanceof ImageStoreError && err.key === 'image.notFound')) throw err;
    }
  }
  return null;
}

/**
 * Makes sure one base image is in the store, building it if needed. If only some of its tags
 * are missing (a learner removed `debian:12-slim`), they are re-pointed at the existing image.
 */
export async function ensureBaseImage(store: ImageStore, ref: string, options: { logger?: Logger } = {}): Promise<Image> {
  const base = baseImageFor(ref) ?? BASE_IMAGES.find((image) => image.name === ref) ?? null;
  if (base === null) {
    throw new ImageStoreError('baseImage.unknown', `${ref} is not an offline base image; available: ${BASE_IMAGES.flatMap((b) => b.tags).join(', ')}`, {
      image: ref,
      available: BASE_IMAGES.flatMap((b) => [...b.tags]),
    });
  }
  const log = options.logger ?? pino({ name: 'base-images', level: 'warn' });
  const complete = async (): Promise<Image | null> => {
    const present = await firstPresent(store, base.tags);
    if (present === null) return null;
    for (const tag of base.tags) if ((await firstPresent(store, [tag])) === null) await store.tag(present, tag);
    return store.inspect(present);
  };

  const existing = await complete();
  if (existing !== null) return existing;
  // mmdebstrap can take minutes; a second worker waits for the first instead of building too.
  return store.withNamedLock(
    `base-${base.name}`,
    async () => {
      const built = await complete();
      if (built !== null) return built;
      const scratch = await store.scratchDir(`base-${base.name}`);
      try {
        const rootfs = join(scratch, 'rootfs');
        const started = Date.now();
        const info = await buildRootfs(base, scratch, rootfs, log);
        const { layer } = await store.commitLayer(rootfs, null, { source: 'base' });
        const config: ImageConfigInput = {
          architecture: ociArchitecture(),
          os: 'linux',
          created: info.created,
          config: { Env: [PATH_ENV], Cmd: info.cmd },
          rootfs: { type: 'layers', diff_ids: [layer.diffId] },
          history: [
            { created: info.created, created_by: info.layerCreatedBy },
            { created: info.created, created_by: `CMD ${JSON.stringify(info.cmd)}`, empty_layer: true },
          ],
        };
        const image = await store.createImage(config, { tags: [...base.tags] });
        log.info({ step: 'base-image', image: base.tags[0], id: image.id, ms: Date.now() - started }, 'base image built');
        return image;
      } finally {
        await store.removeScratchDir(scratch);
      }
    },
    30 * 60_000,
  );
}

/** Builds whichever base images are missing (all by default). Safe to call at every start. */
export async function ensureBaseImages(
  store: ImageStore,
  options: { only?: readonly BaseImageName[]; logger?: Logger } = {},
): Promise<Image[]> {
  const images: Image[] = [];
  for (const base of BASE_IMAGES) {
    if (options.only !== undefined && !options.only.includes(base.name)) continue;
    images.push(await ensureBaseImage(store, base.tags[0]!, { logger: options.logger }));
  }
  return images;
}
