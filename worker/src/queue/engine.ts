// The engine of this host as the job handlers see it: one image store, one launcher, one id-range
// allocator and one builder, opened once per worker process from the data root.
import { mkdir } from 'node:fs/promises';
import type { Logger } from 'pino';
import { Builder } from '../builder/index.js';
import { enginePaths } from '../config.js';
import type { EgressService } from '../egress/index.js';
import { ImageStore } from '../image-store/index.js';
import { sandboxNative, type ContainerRuntime } from '../runtime/container-runtime.js';
import { IdRangeAllocator } from '../runtime/id-ranges.js';

export interface Engine {
  dataDir: string;
  store: ImageStore;
  runtime: ContainerRuntime;
  idRanges: IdRangeAllocator;
  builder: Builder;
  log: Logger;
}

export interface EngineOptions {
  dataDir: string;
  launcher: string;
  log: Logger;
  /** Id ranges: the product's defaults unless a test keeps to its own window. */
  idRangeBase?: number;
  /** RUN containers of builds are named `<prefix>-…` (and so are their cgroups). */
  buildIdPrefix?: string;
  /** RUN steps' way out to package archives (absent: none). */
  egress?: EgressService;
}

export async function openEngine(options: EngineOptions): Promise<Engine> {
  const paths = enginePaths(options.dataDir);
  await mkdir(paths.launcherState, { recursive: true, mode: 0o700 });
  const store = await ImageStore.open(paths.store, { logger: options.log.child({ part: 'image-store' }) });
  const runtime = sandboxNative(options.launcher, paths.launcherState);
  const idRanges = new IdRangeAllocator({ dir: paths.idRanges, ...(options.idRangeBase ? { baseId: options.idRangeBase } : {}) });
  const builder = new Builder({
    store,
    dataDir: options.dataDir,
    runtime,
    idRanges,
    logger: options.log.child({ part: 'builder' }),
    ...(options.buildIdPrefix ? { idPrefix: options.buildIdPrefix } : {}),
    ...(options.egress ? { egress: options.egress } : {}),
  });
  return { dataDir: options.dataDir, store, runtime, idRanges, builder, log: options.log };
}
