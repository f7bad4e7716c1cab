// What every verb works with: the engine over the data dir (image store, launcher, id ranges),
// the session's containers and images, the learner's language, and where output goes. Opened
// lazily, and its modules loaded only then (dynamic imports), so `layercake --help` loads none of
// the engine and a verb pays only for what it opens.
import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { Locale } from '../../../protocol/errors.js';
import type { Builder } from '../builder/index.js';
import { enginePaths, type EngineConfig } from '../config.js';
import type { Containers } from '../containers/index.js';
import type { EgressService } from '../egress/index.js';
import type { Digest, ImageStore } from '../image-store/index.js';
import type { EngineCore } from '../queue/engine.js';
import { lazyLogger } from './lazy-log.js';
import { atEnd } from './termination.js';
import type { SessionImages } from '../sessions/images.js';

// pino is CommonJS: required synchronously, and only when something is logged.
const requirePino = (): typeof import('pino') => createRequire(import.meta.url)('pino') as typeof import('pino');

/** The engine as a verb uses it: the shared core (queue/engine.ts) and the session's containers. */
export interface Engine extends EngineCore {
  containers: Containers;
  images: SessionImages;
}

/** What the verbs that only read and name images work with (`images`, `history`). */
export interface ImageEngine {
  store: ImageStore;
  images: SessionImages;
}

export class CliContext {
  private coreOpened: Promise<EngineCore> | null = null;
  private opened: Promise<Engine> | null = null;
  private storeOpened: Promise<ImageEngine> | null = null;
  private logger: Logger | null = null;
  private egressOpened: Promise<EgressService | null> | null = null;

  constructor(
    readonly config: EngineConfig,
    readonly dataDir: string,
    readonly session: string,
    readonly locale: Locale,
  ) {}

  /**
   * Details of internal errors go to a file: the terminal shows an apology with an id. Warnings
   * and worse unless LAYERCAKE_LOG_LEVEL says otherwise: the worker's default (info) would load
   * pino for every build's progress lines, which cost a cached rebuild a tenth of its time.
   */
  get log(): Logger {
    const level = process.env.LAYERCAKE_LOG_LEVEL ? this.config.logLevel : 'warn';
    this.logger ??= lazyLogger(level, () => {
      const logDir = join(this.dataDir, 'logs');
      mkdirSync(logDir, { recursive: true });
      const { pino } = requirePino();
      return pino({ name: 'layercake-cli', level }, pino.destination({ dest: join(logDir, 'cli.log'), sync: true }));
    });
    return this.logger;
  }

  /** The engine without containers and their modules: what `build` works with (its RUN steps go through the runtime). */
  private core(): Promise<EngineCore> {
    this.coreOpened ??= import('../queue/engine.js').then(({ openEngineCore }) =>
      openEngineCore({ dataDir: this.dataDir, launcher: this.config.launcher, log: this.log, idRangeBase: this.config.idRangeBase, containerTimeLimitMs: this.config.containerTimeLimitMs }),
    );
    return this.coreOpened;
  }

  engine(): Promise<Engine> {
    this.opened ??= (async () => {
      const [core, { Containers }] = await Promise.all([this.core(), import('../containers/index.js')]);
      const containers = new Containers({ ...core, session: this.session });
      return { ...core, containers, images: containers.images };
    })();
    return this.opened;
  }

  /**
   * The store and the session's names without the rest of the engine: no launcher, no containers
   * and their modules, which cost `layercake images` more than its listing does. The same store
   * as engine()'s when that is open.
   */
  imageStore(): Promise<ImageEngine> {
    if (this.opened) return this.opened;
    this.storeOpened ??= (async () => {
      const [{ openImageStore }, { SessionImages }] = await Promise.all([import('../queue/engine.js'), import('../sessions/images.js')]);
      const store = await openImageStore({ dataDir: this.dataDir, log: this.log });
      return { store, images: new SessionImages(store, this.session, this.dataDir) };
    })();
    return this.storeOpened;
  }

  /** Removes this process's work in progress from the store, if the engine was opened (termination.ts). */
  async discardOwnWork(): Promise<void> {
    if (this.coreOpened) await (await this.coreOpened).store.discardOwnWork();
    if (this.storeOpened) await (await this.storeOpened).store.discardOwnWork();
  }

  async builder(): Promise<Builder> {
    const [core, { withBuilder }] = await Promise.all([this.core(), import('../queue/engine.js')]);
    // The way out starts when a RUN step first runs: a build whose steps all come from the cache
    // starts no relay and loads none of egress/.
    const egress = this.config.egress.enabled ? { forSession: async (session: string) => (await this.egress())?.forSession(session) ?? null } : undefined;
    return (await withBuilder(core, egress ? { egress } : {})).builder;
  }

  /**
   * This verb's way out to package archives, as the worker's RUN steps and containers have it
   * (egress/README.md, "The command line"): relays of this process, the host's squid joined (the
   * worker's, when it runs) or started on the first connection, all let go when the verb ends.
   * Null where the operator turned egress off, or it could not be set up (then loopback only).
   */
  egress(): Promise<EgressService | null> {
    if (!this.config.egress.enabled) return Promise.resolve(null);
    this.egressOpened ??= (async () => {
      const { egressServiceFor } = await import('../egress/index.js');
      const service = egressServiceFor(this.config, { dataDir: this.dataDir, sessionsDir: enginePaths(this.dataDir).sessions, transient: true });
      try {
        await service.start();
      } catch (err) {
        this.log.warn({ err }, 'no way out to package archives for this command');
        return null;
      }
      // However the verb ends: its status, an error, or a signal (termination.ts).
      atEnd(() => this.closeEgress());
      return service;
    })();
    return this.egressOpened;
  }

  /** The session's containers, given the way out (a foreground `run`); null without one. */
  async containersWithEgress(): Promise<Containers | null> {
    const [core, egress, { Containers }] = await Promise.all([this.engine(), this.egress(), import('../containers/index.js')]);
    return egress ? new Containers({ ...core, session: this.session, containerEgress: egress.forContainers() }) : null;
  }

  /** Stops this verb's relays, and squid if this process was its last user. */
  async closeEgress(): Promise<void> {
    const opened = this.egressOpened;
    this.egressOpened = null;
    await (await opened?.catch(() => null))?.stop();
  }

  /**
   * The image a learner names, making a missing base image first (as `docker run` pulls one it
   * does not have): busybox takes a second; debian a few minutes, from Debian's archive.
   */
  async image(ref: string): Promise<Digest> {
    const { store, images } = await this.engine();
    const [{ baseImageFor, ensureBaseImage }, { isImageStoreError }] = await Promise.all([
      import('../base-images/index.js'),
      import('../image-store/index.js'),
    ]);
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
