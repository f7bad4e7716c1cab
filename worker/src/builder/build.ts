// A Dockerfile build for one learner session: parse, plan, then each needed stage step by step,
// each step a cache hit or a new image (with a new layer when the step changes files), every
// decision reported as an event. The queue's build handler and the command line call this.
import type { EgressSession } from '../egress/index.js';
import { posix } from 'node:path';
import { pino, type Logger } from 'pino';
import { z } from 'zod';
import { LearnerError } from '../../../protocol/errors.js';
import type { CacheReason } from '../../../protocol/events.js';
import { noEvents, type EventSink } from '../events.js';
import { chainIdsOf, formatReference, parseReference, type Digest, type ImageConfig, type ImageStore, type LayerRecord } from '../image-store/index.js';
import { buildCacheLimits, buildLimits, containerLimits, sessionQuotas } from '../limits.js';
import type { SessionQuotas } from '../sessions/quotas.js';
import type { ContainerRuntime } from '../runtime/container-runtime.js';
import type { IdRangeAllocator } from '../runtime/id-ranges.js';
import { collectBuildCache } from '../sessions/image-ops.js';
import { SessionImages } from '../sessions/images.js';
import { ArgScope, BuildArgs } from './args.js';
import { BuildCache, type CacheLookup } from './cache.js';
import { BuildContext, ContextFileTooLarge, readContextFile } from './context.js';
import { formatBytes } from './format.js';
import { ImageStates } from './image-states.js';
import { nextConfig, ociArchitecture, scratchState, type ImageState } from './image-config.js';
import { handlers } from './instructions/index.js';
import { parseDockerfile, type Keyword } from './parse.js';
import { planBuild, resolveImage, stageNamed, type BuildPlan } from './plan.js';
import type { StepResources } from './run-step.js';
import { cacheMountRoot, SECRET_MAX_BYTES } from './run-mounts.js';
import { StepBudget } from './step-budget.js';
import { atLine, CancelledError, learnerError, type BuildRuntime, type CopySource, type PreparedStep, type StageRuntime } from './step.js';
import { diskQuotaLimiter, type WritableLayerLimiter } from '../disk/writable-layer.js';

const relativePath = z
  .string()
  .min(1)
  .refine((p) => !p.startsWith('/') && !posix.normalize(p).startsWith('..'), 'a path inside the build context');

/** What the queue's handler and the command line ask for. */
export const buildRequestSchema = z.object({
  /** The learner session the build runs for: FROM and tags resolve through its names. */
  session: z.string().regex(/^[a-z0-9]{1,64}$/),
  /** The build context on this host (files the job carried, or the CLI's directory). */
  contextDir: z.string().min(1),
  /** The Dockerfile's text; when absent it is read from `dockerfilePath` in the context. */
  dockerfile: z.string().optional(),
  dockerfilePath: relativePath.default('Dockerfile'),
  /** Learner names (`app`, `app:v2`), stored session-qualified. */
  tags: z.array(z.string().min(1).max(255)).default([]),
  buildArgs: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/), z.string()).default({}),
  noCache: z.boolean().default(false),
  /** `--secret id=…`: id → bytes, for RUN --mount=type=secret; never stored, logged or sent in an event. */
  secrets: z.record(z.string().min(1), z.custom<Uint8Array>((b) => b instanceof Uint8Array && b.length <= SECRET_MAX_BYTES)).default({}),
  /** Build up to this stage (`--target`). */
  target: z.string().min(1).optional(),
  /** Cancels the build: a running step is killed and everything it made is removed. */
  signal: z.instanceof(AbortSignal).optional(),
});
export type BuildRequest = z.input<typeof buildRequestSchema>;

/** A monotonic clock in milliseconds; node:perf_hooks (and the global `performance`) costs a command-line start 2 ms to load. */
const msNow = (): number => Number(process.hrtime.bigint()) / 1e6;

export interface StepLayer {
  chainId: Digest;
  diffId: Digest;
  sizeBytes: number;
  added: number;
  changed: number;
  deleted: number;
}

export interface StepResult {
  step: number;
  stage: string;
  instruction: string;
  line: number;
  /** null for FROM, which takes an image rather than making one. */
  cacheHit: boolean | null;
  reason?: CacheReason;
  /** The image this step produced (for FROM: the base; null for scratch). */
  imageId: Digest | null;
  /** The layer the step made, if it made one (for a cache hit: the cached one). */
  layer?: StepLayer;
}

export interface BuildResult {
  imageId: Digest;
  /** The learner's names the image was tagged with (`app:latest`). */
  tags: string[];
  steps: StepResult[];
  durationMs: number;
  /** Build arguments no ARG declared (Docker warns about these). */
  unusedBuildArgs: string[];
}

export type BuildLimits = { readonly [K in keyof typeof buildLimits]: number };

export interface BuilderOptions {
  store: ImageStore;
  /** The engine's data root: session records (sessions/) and the build cache (build-cache/). */
  dataDir: string;
  runtime: ContainerRuntime;
  idRanges: IdRangeAllocator;
  logger?: Logger;
  limits?: Partial<BuildLimits>;
  /** Limits of each RUN (defaults: containerLimits, and buildLimits.stepTimeoutMs). */
  resources?: Partial<StepResources>;
  /** RUN containers are named `<idPrefix>-<random>`; default `build`. */
  idPrefix?: string;
  /** Most bytes a RUN may write, and ADD unpack from one archive (default containerLimits.writableLayerBytes). */
  writableLayerBytes?: number;
  /** How a RUN's bound is enforced (default: the data filesystem's quotas, see disk-quota.ts). */
  writableLayer?: WritableLayerLimiter;
  /** The session's quotas (default limits.ts sessionQuotas): a build's images and steps count against them. */
  quotas?: Partial<SessionQuotas>;
  /**
   * The host's proxy to package archives: RUN steps reach them through it (absent: no network at
   * all). An EgressService, or what starts one on first use (the command line's).
   */
  egress?: { forSession(session: string): Promise<EgressSession | null> };
}

/**
 * The image a cache hit names, from the config its entry kept and the layers' records (no
 * store.inspect, which reads every tag of the store). Null if a layer has gone: then a miss.
 */
async function cachedState(
  store: ImageStore,
  images: ImageStates,
  imageId: Digest,
  config: ImageConfig | undefined,
): Promise<(ImageState & { imageId: Digest }) | null> {
  if (config === undefined) return images.load(imageId);
  const layers: LayerRecord[] = [];
  for (const chainId of chainIdsOf(config.rootfs.diff_ids)) {
    const layer = await store.getLayer(chainId);
    if (layer === null) return null;
    layers.push(layer);
  }
  return { imageId, config, layers };
}

function layerSummary(layer: LayerRecord): StepLayer {
  return {
    chainId: layer.chainId,
    diffId: layer.diffId,
    sizeBytes: layer.size,
    added: layer.changes?.added ?? 0,
    changed: layer.changes?.changed ?? 0,
    deleted: layer.changes?.deleted ?? 0,
  };
}

interface FinishedStage {
  state: ImageState;
  /** Why the steps after this stage's first cache miss missed (null: every step was a hit). */
  after: CacheReason | null;
}

export class Builder {
  private readonly limits: BuildLimits;
  private readonly resources: StepResources;
  private readonly log: Logger;
  private readonly images: ImageStates;
  private readonly writableLayer: WritableLayerLimiter;

  constructor(private readonly options: BuilderOptions) {
    this.images = new ImageStates(options.store);
    this.limits = Object.freeze({ ...buildLimits, ...options.limits });
    this.resources = Object.freeze({
      memoryBytes: containerLimits.memoryBytes,
      pidsMax: containerLimits.pidsMax,
      cpuQuotaMicros: containerLimits.cpuQuotaMicros,
      cpuPeriodMicros: containerLimits.cpuPeriodMicros,
      timeoutMs: this.limits.stepTimeoutMs,
      ...options.resources,
    });
    this.log = options.logger ?? pino({ name: 'builder', level: 'warn' });
    this.writableLayer = options.writableLayer ?? diskQuotaLimiter(this.log);
  }

  async build(request: BuildRequest, events: EventSink = noEvents): Promise<BuildResult> {
    const started = msNow();
    const req = buildRequestSchema.parse(request);
    const log = this.log.child({ session: req.session });
    const progress = { step: undefined as number | undefined };
    try {
      const result = await this.run(req, events, log, progress, started);
      log.info({ imageId: result.imageId, steps: result.steps.length, ms: Math.round(result.durationMs) }, 'build finished');
      return result;
    } catch (err) {
      // Whatever a cancelled build ran into last (a killed step, an abort exception), it was cancelled.
      const error = req.signal?.aborted ? new CancelledError() : err;
      if (error instanceof LearnerError) {
        events.emit({ type: 'build.failed', ...(progress.step !== undefined ? { step: progress.step } : {}), error: error.toPayload() });
        log.info({ step: progress.step, key: error.key }, 'build failed');
      } else {
        log.error({ err: error, step: progress.step }, 'build failed');
      }
      throw error;
    }
  }

  private async readDockerfile(req: z.infer<typeof buildRequestSchema>): Promise<string> {
    const limit = this.limits.dockerfileBytes;
    const tooLarge = (size: number): LearnerError => new LearnerError('build.dockerfileTooLarge', { size: formatBytes(size), limit: formatBytes(limit) });
    if (req.dockerfile !== undefined) {
      const size = Buffer.byteLength(req.dockerfile);
      if (size > limit) throw tooLarge(size);
      return req.dockerfile;
    }
    // Read beneath the context: a Dockerfile that is a symlink out of it is refused.
    let text: Buffer | null;
    try {
      text = await readContextFile(req.contextDir, req.dockerfilePath, limit);
    } catch (err) {
      if (err instanceof ContextFileTooLarge) throw tooLarge(err.sizeBytes);
      throw err;
    }
    if (text === null) throw new LearnerError('build.dockerfileMissing', { path: req.dockerfilePath });
    return text.toString('utf8');
  }

  private async run(
    req: z.infer<typeof buildRequestSchema>,
    events: EventSink,
    log: Logger,
    progress: { step: number | undefined },
    started: number,
  ): Promise<BuildResult> {
    const { store } = this.options;
    const signal = req.signal;
    const session = new SessionImages(store, req.session, this.options.dataDir);
    const tags = req.tags.map((tag) => {
      try {
        session.writableName(tag);
      } catch (err) {
        if (err instanceof LearnerError && err.key === 'image.baseNameReserved') throw err;
        throw new LearnerError('build.invalidTag', { tag });
      }
      return formatReference(parseReference(tag));
    });
    // Started: the job is taken and its context is in place. Nothing here waited on a file or a
    // process wake-up (each costs 5-25 ms on a loaded host); reading the Dockerfile, the base
    // image's records and the plan come after, and their errors follow this as a step's would.
    events.emit({ type: 'build.started', tags });
    const stepBytes = this.options.writableLayerBytes ?? containerLimits.writableLayerBytes;
    const quotas = { ...sessionQuotas, ...this.options.quotas };
    const cacheRoot = cacheMountRoot(this.options.dataDir, req.session);
    const budget = new StepBudget(store, session, quotas, stepBytes, cacheRoot);

    const parsed = parseDockerfile(await this.readDockerfile(req));
    if (parsed.instructions.length > this.limits.steps) {
      throw new LearnerError('build.tooManySteps', { steps: parsed.instructions.length, limit: this.limits.steps });
    }
    const buildArgs = new BuildArgs(req.buildArgs);
    // A FROM that pulls shows its layers' progress and counts against the session's quota, as `pull` does.
    const plan = await planBuild(parsed, { buildArgs, target: req.target, session, store, images: this.images, events, quota: budget.quotaSource() });
    events.emit({ type: 'build.planned', steps: plan.totalSteps, stages: plan.needed.length });
    const context = await BuildContext.load(req.contextDir, this.limits);

    const cache = new BuildCache(this.options.dataDir, req.session, async (id) => {
      try {
        await store.resolve(id);
        return true;
      } catch {
        return false;
      }
    });
    const finished = new Map<number, FinishedStage>();
    const stageArgs = new Map<number, ArgScope>();
    const steps: StepResult[] = [];
    let stepNo = 0;
    let currentStage = 0;
    /** Whether this build changed what the cache collection looks at: a new image, or a tag moved off another. */
    let changedImages = false;

    // The session's relay is made when a RUN first asks for it, not for every build.
    const egress = this.options.egress;
    let stepEgress: Promise<EgressSession | null> | undefined;
    const runtime: BuildRuntime = {
      store,
      context,
      escape: parsed.escape,
      buildArgs,
      copySource: (name, where) => this.copySource(plan, finished, currentStage, name, where, session),
      runtime: this.options.runtime,
      idRanges: this.options.idRanges,
      idPrefix: this.options.idPrefix ?? 'build',
      resources: this.resources,
      writableLayerBytes: stepBytes,
      writableLayer: this.writableLayer,
      tailLines: this.limits.failedOutputLines,
      cacheMounts: { root: cacheRoot, maxBytes: quotas.layerBytes, admitGrowth: (bytes) => budget.admitGrowth(bytes) },
      secrets: new Map(Object.entries(req.secrets)),
      ...(egress ? { egress: () => (stepEgress ??= egress.forSession(req.session)) } : {}),
      ...(signal ? { signal } : {}),
      log,
    };

    for (const index of plan.needed) {
      currentStage = index;
      const stage = plan.stages[index]!;
      const stageName = stage.name ?? String(index);
      progress.step = ++stepNo;
      events.emit({ type: 'build.step', step: stepNo, total: plan.totalSteps, stage: stageName, instruction: stage.from.text, line: stage.from.where.line });
      let state: ImageState;
      let after: CacheReason | null = null;
      if (stage.base.kind === 'scratch') state = scratchState();
      else if (stage.base.kind === 'stage') ({ state, after } = finished.get(stage.base.stage)!);
      else state = stage.base.state!;
      steps.push({ step: stepNo, stage: stageName, instruction: stage.from.text, line: stage.from.where.line, cacheHit: null, imageId: state.imageId });
      if (stage.triggers.length > 0) {
        // Triggers run once, here; the image being built does not pass them on.
        state = { ...state, config: { ...state.config, config: { ...state.config.config, OnBuild: null } } };
      }
      // A stage built FROM an earlier stage sees its ARGs, as in BuildKit.
      const baseArgs = stage.base.kind === 'stage' ? (stageArgs.get(stage.base.stage) ?? null) : null;
      const stageRuntime: StageRuntime = { name: stageName, index, args: ArgScope.forStage(buildArgs, plan.globals, baseArgs), cmdSet: false };
      stageArgs.set(index, stageRuntime.args);

      for (const instruction of [...stage.triggers, ...stage.instructions]) {
        signal?.throwIfAborted();
        progress.step = ++stepNo;
        const step = stepNo;
        events.emit({ type: 'build.step', step, total: plan.totalSteps, stage: stageName, instruction: instruction.text, line: instruction.where.line });
        const prepared = await handlers[instruction.keyword as Exclude<Keyword, 'FROM'>]({ instruction, parent: state, stage: stageRuntime, build: runtime });
        const parentKey = state.imageId ?? `scratch:${ociArchitecture()}`;
        let lookup: CacheLookup;
        if (req.noCache) lookup = { hit: null, reason: { key: 'cache.miss.noCache', facts: {} } };
        else if (after !== null) lookup = { hit: null, reason: after };
        else lookup = await cache.lookup(parentKey, prepared.cache);

        const base = { step, stage: stageName, instruction: instruction.text, line: instruction.where.line };
        const cached = lookup.hit === null ? null : await cachedState(store, this.images, lookup.hit, lookup.config);
        if (cached !== null) {
          const madeLayer = cached.config.history?.at(-1)?.empty_layer !== true && cached.layers.length > state.layers.length;
          state = cached;
          const image = { id: cached.imageId, layers: cached.layers };
          events.emit({ type: 'build.cache', step, cacheHit: true, reason: lookup.reason });
          steps.push({ ...base, cacheHit: true, reason: lookup.reason, imageId: image.id, ...(madeLayer ? { layer: layerSummary(image.layers.at(-1)!) } : {}) });
          continue;
        }
        events.emit({ type: 'build.cache', step, cacheHit: false, reason: lookup.reason });
        await budget.admitNewImages();
        const layer = await this.makeLayer(prepared, state, step, events, budget, signal).catch((err: unknown) => {
          // e.g. the store refusing a file named .wh.* : still the learner's line.
          throw atLine(err, instruction.where);
        });
        const config = nextConfig(state, { runConfig: prepared.runConfig, createdBy: prepared.createdBy, layer, ...(prepared.author !== undefined ? { author: prepared.author } : {}) }, new Date().toISOString());
        const image = await store.createImage(config);
        changedImages = true;
        await session.own(image.id);
        await cache.record(parentKey, prepared.cache, image.id, image.config);
        state = { imageId: image.id, config: image.config, layers: image.layers };
        this.images.remember({ imageId: image.id, config: image.config, layers: image.layers });
        // Every later step misses too, for the reason this one gives them: after a step nothing
        // was cached for (a first build, a line added), theirs is the same first time, not a change.
        after ??= lookup.reason.key === 'cache.miss.firstTime' ? lookup.reason : { key: 'cache.miss.parentChanged', facts: { step } };
        steps.push({ ...base, cacheHit: false, reason: lookup.reason, imageId: image.id, ...(layer ? { layer: layerSummary(layer) } : {}) });
      }
      finished.set(index, { state, after });
    }

    let final = finished.get(plan.target)!.state;
    if (final.imageId === null) {
      // `FROM scratch` and nothing else: an image without layers.
      const image = await store.createImage(final.config);
      changedImages = true;
      final = { imageId: image.id, config: image.config, layers: image.layers };
    }
    const imageId = final.imageId!;
    // Each tag makes the session own the image (SessionImages.tag); without one, own it here.
    if (tags.length === 0) await session.own(imageId);
    for (const tag of tags) if ((await session.tag(imageId, tag)) !== null) changedImages = true;
    const cachedSteps = steps.filter((s) => s.cacheHit === true).length;
    const durationMs = msNow() - started;
    events.emit({ type: 'build.finished', imageId, tags, cachedSteps, totalSteps: plan.totalSteps, durationMs });
    // The build cache's bound, after the learner has the result (off the path to build.started): old
    // untagged steps nothing stands on go (sessions/image-ops.ts), so they never fill the session's
    // image quota before the next build; this build's image is never one of them.
    // The build succeeded whatever happens here: a failed collection is logged, and tried again next time.
    // A build that made no image and moved no tag (a cached rebuild) left the session's images as
    // they were: none can have become collectable by it, and its image count did not grow; reading
    // every image for nothing was a tenth of such a rebuild.
    if (changedImages) {
      try {
        const collected = await collectBuildCache(store, session, {
          danglingMax: buildCacheLimits.danglingImagesMax,
          imagesMax: { ...sessionQuotas, ...this.options.quotas }.images,
          keep: imageId,
        });
        if (collected.length > 0) await cache.prune();
      } catch (err) {
        log.warn({ err }, 'build cache collection failed');
      }
    }
    const unusedBuildArgs = buildArgs.unused();
    if (unusedBuildArgs.length > 0) log.info({ unusedBuildArgs }, 'build arguments were not consumed');
    return { imageId, tags, steps, durationMs, unusedBuildArgs };
  }

  /** Runs a step's layer function in a scratch dir and commits what it wrote. */
  private async makeLayer(
    prepared: PreparedStep,
    parent: ImageState,
    step: number,
    events: EventSink,
    budget: StepBudget,
    signal?: AbortSignal,
  ): Promise<LayerRecord | null> {
    if (prepared.layer === undefined) return null;
    const { store } = this.options;
    const stepDir = await store.scratchDir('build-step');
    try {
      const upper = await prepared.layer(stepDir, {
        emitLog: (stream, text) => events.emit({ type: 'build.log', step, stream, text }),
        emitEgress: (hosts, refused) => events.emit({ type: 'build.egress', step, hosts, refused }),
        ...(signal ? { signal } : {}),
      });
      signal?.throwIfAborted();
      // Measured before a byte is read, then tarred and hashed within a time limit of its own.
      await budget.admit(upper);
      const timeLimit = AbortSignal.timeout(this.limits.layerTimeoutMs);
      const { layer } = await store
        .commitLayer(upper, parent.layers.at(-1)?.chainId ?? null, { signal: signal ? AbortSignal.any([signal, timeLimit]) : timeLimit })
        .catch((err: unknown) => {
          if (timeLimit.aborted && !signal?.aborted) throw new LearnerError('build.layerTimeLimit', { seconds: Math.round(this.limits.layerTimeoutMs / 1000) });
          throw err;
        });
      const summary = layerSummary(layer);
      events.emit({
        type: 'layer.committed',
        step,
        chainId: summary.chainId,
        diffId: summary.diffId,
        sizeBytes: summary.sizeBytes,
        added: summary.added,
        changed: summary.changed,
        deleted: summary.deleted,
      });
      return layer;
    } finally {
      await store.removeScratchDir(stepDir);
    }
  }

  private async copySource(
    plan: BuildPlan,
    finished: Map<number, FinishedStage>,
    currentStage: number,
    name: string,
    where: { line: number; column: number },
    session: SessionImages,
  ): Promise<CopySource> {
    const stage = stageNamed(plan.stages, name, currentStage);
    if (stage !== null) {
      const done = finished.get(stage.index);
      if (done === undefined) throw learnerError('build.stageNotFound', where, { stage: name });
      return { state: done.state, id: done.state.imageId ?? 'scratch' };
    }
    const state = await resolveImage(name, session, this.options.store, this.images).catch(() => null);
    if (state === null) throw learnerError('build.stageNotFound', where, { stage: name });
    return { state, id: state.imageId };
  }
}
