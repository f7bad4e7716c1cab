// The engine of this host, constructed in one place for the worker and the command line: the
// image store, the launcher and the id-range allocator over the data root (openEngineCore), and
// the builder over them (withBuilder). Each opens only what it needs: the worker everything at
// start-up (openEngine); a `layercake` verb the core, and the builder only for `build`, whose
// modules are loaded then. Containers are per session: each user makes them over the core.
import type { Logger } from 'pino';
import type { Builder } from '../builder/index.js';
import { enginePaths } from '../config.js';
import type { ContainerEgress, EgressService, EgressSession } from '../egress/index.js';
import { ImageStore } from '../image-store/index.js';
import { makeRecordDir } from '../image-store/record-io.js';
import type { ContainerRuntime } from '../runtime/container-runtime.js';
import type { IdRangeAllocator } from '../runtime/id-ranges.js';
import type { ContainerLimits } from '../containers/record.js';

export interface EngineCore {
  dataDir: string;
  store: ImageStore;
  runtime: ContainerRuntime;
  idRanges: IdRangeAllocator;
  log: Logger;
  /** New containers' limits where this host's operator set them (config.ts); every `new Containers({ ...engine })` takes them. */
  defaults?: Partial<ContainerLimits>;
}

export interface Engine extends EngineCore {
  builder: Builder;
  /** Containers' doors to package archives (the worker's, with its proxy; absent otherwise). */
  containerEgress?: ContainerEgress;
}

export interface CoreOptions {
  dataDir: string;
  launcher: string;
  log: Logger;
  /** Id ranges: the product's defaults unless a test keeps to its own window. */
  idRangeBase?: number;
  /** The operator's container time limit (config.ts containerTimeLimitMs; null: none; absent: limits.ts). */
  containerTimeLimitMs?: number | null;
}

export interface BuilderOptions {
  /** RUN containers of builds are named `<prefix>-…` (and so are their cgroups). */
  buildIdPrefix?: string;
  /** RUN steps' way out to package archives (absent: none). */
  egress?: EgressService;
}

export type EngineOptions = CoreOptions & BuilderOptions;

export async function openEngineCore(options: CoreOptions): Promise<EngineCore> {
  const paths = enginePaths(options.dataDir);
  await makeRecordDir(paths.launcherState, 0o700);
  // The launcher's and the id ranges' modules (the OCI spec's schemas, child processes) load here,
  // alongside the store's opening, not with this file: a command that lists images never opens a core.
  const [store, { sandboxNative }, { IdRangeAllocator }] = await Promise.all([
    openImageStore(options),
    import('../runtime/container-runtime.js'),
    import('../runtime/id-ranges.js'),
  ]);
  const runtime = sandboxNative(options.launcher, paths.launcherState);
  const idRanges = new IdRangeAllocator({ dir: paths.idRanges, ...(options.idRangeBase ? { baseId: options.idRangeBase } : {}) });
  const core: EngineCore = { dataDir: options.dataDir, store, runtime, idRanges, log: options.log };
  // undefined where the operator said none: it replaces limits.ts's default in Containers' spread.
  if (options.containerTimeLimitMs !== undefined) core.defaults = { timeLimitMs: options.containerTimeLimitMs ?? undefined };
  return core;
}

/**
 * The image store alone, opened as openEngineCore opens it: for the verbs that only read and
 * name images (`images`, `history`, `tag`, `inspect` of an image…), which need no launcher.
 */
export async function openImageStore(options: Pick<CoreOptions, 'dataDir' | 'log'>): Promise<ImageStore> {
  return ImageStore.open(enginePaths(options.dataDir).store, { logger: options.log.child({ part: 'image-store' }) });
}

/** A session's way out for RUN steps: an EgressService, or what starts one when a RUN first asks (the command line's). */
export type EgressSource = { forSession(session: string): Promise<EgressSession | null> };

export async function withBuilder(core: EngineCore, options: { buildIdPrefix?: string; egress?: EgressSource } = {}): Promise<Engine> {
  const { Builder } = await import('../builder/index.js');
  const builder = new Builder({
    store: core.store,
    dataDir: core.dataDir,
    runtime: core.runtime,
    idRanges: core.idRanges,
    logger: core.log.child({ part: 'builder' }),
    ...(options.buildIdPrefix ? { idPrefix: options.buildIdPrefix } : {}),
    ...(options.egress ? { egress: options.egress } : {}),
  });
  return { ...core, builder };
}

/** Everything, for the worker: its handlers build as well as run, and containers get the way out. */
export async function openEngine(options: EngineOptions): Promise<Engine> {
  const engine = await withBuilder(await openEngineCore(options), options);
  return options.egress ? { ...engine, containerEgress: options.egress.forContainers() } : engine;
}
