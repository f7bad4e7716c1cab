// What every verb works with: the engine over the data dir (image store, launcher, id ranges),
// the session's containers and images, the learner's language, and where output goes. Opened
// lazily, so `layercake --help` touches nothing.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { pino, type Logger } from 'pino';
import type { Locale } from '../../../protocol/errors.js';
import { baseImageFor, ensureBaseImage } from '../base-images/index.js';
import { Builder } from '../builder/index.js';
import { enginePaths, type EngineConfig } from '../config.js';
import { Containers } from '../containers/index.js';
import { ImageStore, isImageStoreError, type Digest } from '../image-store/index.js';
import { sandboxNative, type ContainerRuntime } from '../runtime/container-runtime.js';
import { IdRangeAllocator } from '../runtime/id-ranges.js';
import { SessionImages } from '../session-images.js';

export interface Engine {
  store: ImageStore;
  runtime: ContainerRuntime;
  idRanges: IdRangeAllocator;
  containers: Containers;
  images: SessionImages;
}

export class CliContext {
  private opened: Promise<Engine> | null = null;
  readonly log: Logger;

  constructor(
    readonly config: EngineConfig,
    readonly dataDir: string,
    readonly session: string,
    readonly locale: Locale,
  ) {
    // Details of internal errors go to a file: the terminal shows an apology with an id.
    const logDir = join(dataDir, 'logs');
    mkdirSync(logDir, { recursive: true });
    this.log = pino({ name: 'layercake-cli', level: config.logLevel }, pino.destination({ dest: join(logDir, 'cli.log'), sync: true }));
  }

  engine(): Promise<Engine> {
    this.opened ??= (async () => {
      const paths = enginePaths(this.dataDir);
      const store = await ImageStore.open(paths.store, { logger: this.log.child({ part: 'image-store' }) });
      const runtime = sandboxNative(this.config.launcher, paths.launcherState);
      const idRanges = new IdRangeAllocator({ dir: paths.idRanges, baseId: this.config.idRangeBase });
      const containers = new Containers({ dataDir: this.dataDir, store, runtime, idRanges, session: this.session, log: this.log });
      return { store, runtime, idRanges, containers, images: containers.images };
    })();
    return this.opened;
  }

  /** Removes this process's work in progress from the store, if the engine was opened (termination.ts). */
  async discardOwnWork(): Promise<void> {
    if (this.opened) await (await this.opened).store.discardOwnWork();
  }

  async builder(): Promise<Builder> {
    const { store, runtime, idRanges } = await this.engine();
    return new Builder({ store, dataDir: this.dataDir, runtime, idRanges, logger: this.log.child({ part: 'builder' }) });
  }

  /**
   * The image a learner names, making a missing base image first (as `docker run` pulls one it
   * does not have): busybox takes a second; debian a few minutes, from Debian's archive.
   */
  async image(ref: string): Promise<Digest> {
    const { store, images } = await this.engine();
    try {
      return await images.resolve(ref);
    } catch (err) {
      if (!isImageStoreError(err, 'image.notFound') || baseImageFor(ref) === null) throw err;
      process.stderr.write(`Unable to find image '${ref}' locally: preparing it\n`);
      await ensureBaseImage(store, ref, { logger: this.log });
      return images.resolve(ref);
    }
  }
}
