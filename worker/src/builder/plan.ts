// From instructions to a plan: global ARGs, stages with their bases (scratch, an earlier
// stage, or an image the session can see), the ONBUILD triggers each base brings, the target
// stage and the stages it needs. Everything a learner could get wrong about the shape of the
// Dockerfile — no FROM, an unknown base image, a missing target — is found here, before any
// step runs.
import { LearnerError } from '../../../protocol/errors.js';
import { availableBaseImages, baseImageFor, ensureBaseImage } from '../base-images/index.js';
import { ImageStoreError, type Digest, type ImageStore } from '../image-store/index.js';
import type { SessionImages } from '../sessions/images.js';
import type { EventSink } from '../events.js';
import type { QuotaSource } from '../sessions/image-ops.js';
import { ArgScope, type BuildArgs } from './args.js';
import { ociArchitecture, type ImageState } from './image-config.js';
import { checkDockerfile, FLAGS } from './check.js';
import type { ImageStates } from './image-states.js';
import { checkFlags, parseTrigger, type Instruction, type ParsedDockerfile } from './parse.js';
import { learnerError, parsePairs, StepVars } from './step.js';
import { splitWhitespace } from './substitution.js';

export type StageBase =
  | { kind: 'scratch' }
  | { kind: 'stage'; stage: number }
  /** `state` is filled in once the stage is known to be needed (unused stages are not resolved). */
  | { kind: 'image'; ref: string; state: (ImageState & { imageId: Digest }) | null };

export interface StagePlan {
  index: number;
  /** The `AS` name, lowercased as Docker does, or null. */
  name: string | null;
  from: Instruction;
  /** The base as written, after substitution (for events and errors). */
  baseName: string;
  base: StageBase;
  instructions: Instruction[];
  /** ONBUILD triggers the base brings; they run right after FROM. */
  triggers: Instruction[];
}

export interface BuildPlan {
  globals: ArgScope;
  /** Every stage of the Dockerfile, in order. */
  stages: StagePlan[];
  /** Indexes of the stages this build runs, in order (the target and what it needs). */
  needed: number[];
  target: number;
  totalSteps: number;
}

const STAGE_NAME = /^[a-z][a-z0-9._-]*$/;

export interface PlanOptions {
  buildArgs: BuildArgs;
  target?: string;
  session: SessionImages;
  store: ImageStore;
  images: ImageStates;
  /** Where a FROM's pull reports its layers (`pull.layer`, `pull.finished`). */
  events?: EventSink;
  /** The session's quota a FROM's pull counts against. */
  quota?: QuotaSource;
}

/** Resolves an image name the way FROM and COPY --from do, building a missing base image. */
export async function resolveImage(
  ref: string,
  session: SessionImages,
  store: ImageStore,
  images: ImageStates,
): Promise<(ImageState & { imageId: Digest }) | null> {
  let id: Digest;
  try {
    id = await session.resolve(ref);
  } catch (err) {
    if (!(err instanceof ImageStoreError) || (err.key !== 'image.notFound' && err.key !== 'reference.invalid')) throw err;
    // A base image this host offers but has not built yet (e.g. debian on a fresh host).
    if (baseImageFor(ref) === null) return null;
    id = (await ensureBaseImage(store, ref)).id;
  }
  return images.load(id);
}

export async function planBuild(parsed: ParsedDockerfile, options: PlanOptions): Promise<BuildPlan> {
  const { instructions, escape } = parsed;
  // Docker checks the whole file first; so a mistake anywhere stops the build before step 1.
  checkDockerfile(instructions);
  const globals = new ArgScope(options.buildArgs, null);
  let i = 0;
  for (; i < instructions.length && instructions[i]!.keyword === 'ARG'; i++) {
    const instruction = instructions[i]!;
    checkFlags(instruction, []);
    const vars = new StepVars({}, globals, escape, instruction.argsWhere);
    for (const { name, value } of parsePairs(instruction, vars, escape, 'bare-names')) globals.declare(name, value);
  }
  const first = instructions[i];
  if (first === undefined || first.keyword !== 'FROM') {
    const where = (first ?? instructions[instructions.length - 1]!).where;
    throw learnerError('build.missingFrom', where);
  }

  const stages: StagePlan[] = [];
  for (; i < instructions.length; i++) {
    const instruction = instructions[i]!;
    if (instruction.keyword !== 'FROM') {
      stages[stages.length - 1]!.instructions.push(instruction);
      continue;
    }
    stages.push(await planStage(instruction, stages, globals, escape, options));
  }

  const target = findTarget(stages, options.target);
  const needed = neededStages(stages, target, globals, escape);
  for (const index of needed) await resolveBase(stages[index]!, options);
  let totalSteps = 0;
  for (const index of needed) {
    const stage = stages[index]!;
    totalSteps += 1 + stage.triggers.length + stage.instructions.length;
  }
  return { globals, stages, needed, target, totalSteps };
}

async function planStage(from: Instruction, earlier: StagePlan[], globals: ArgScope, escape: string, options: PlanOptions): Promise<StagePlan> {
  const platform = checkFlags(from, FLAGS.FROM ?? []).get('platform');
  if (platform !== undefined) {
    // This machine's platform (often written $BUILDPLATFORM) is what a build makes anyway.
    const host = `linux/${ociArchitecture()}`;
    const value = new StepVars({}, globals, escape, platform.where).expand(platform.value ?? '');
    if (value !== host) throw learnerError('build.platformUnsupported', platform.where, { platform: value, host });
  }
  const words = splitWhitespace(from.args);
  if (words.length === 0) throw learnerError('build.missingArguments', from.where, { instruction: 'FROM' });
  if (!(words.length === 1 || (words.length === 3 && words[1]!.toUpperCase() === 'AS'))) {
    throw learnerError('build.fromSyntax', from.argsWhere, {});
  }
  // Only global ARGs are visible in FROM.
  const vars = new StepVars({}, globals, escape, from.argsWhere);
  const baseName = vars.expand(words[0]!);
  if (baseName === '') throw learnerError('build.missingArguments', from.where, { instruction: 'FROM' });
  let name: string | null = null;
  if (words.length === 3) {
    name = words[2]!.toLowerCase();
    if (!STAGE_NAME.test(name)) throw learnerError('build.stageNameInvalid', from.argsWhere, { name: words[2]! });
    if (earlier.some((stage) => stage.name === name)) throw learnerError('build.stageNameTaken', from.argsWhere, { name });
  }

  let base: StageBase;
  let triggerTexts: string[] = [];
  const stage = earlier.find((s) => s.name !== null && s.name === baseName.toLowerCase());
  if (stage !== undefined) {
    base = { kind: 'stage', stage: stage.index };
    // The stage's own ONBUILDs (its base's triggers ran, and were cleared, at its FROM).
    triggerTexts = stage.instructions.filter((ins) => ins.keyword === 'ONBUILD').map((ins) => ins.args);
  } else if (baseName.toLowerCase() === 'scratch') {
    base = { kind: 'scratch' };
  } else {
    base = { kind: 'image', ref: baseName, state: null };
  }
  return {
    index: earlier.length,
    name,
    from,
    baseName,
    base,
    instructions: [],
    triggers: triggerTexts.map((text) => parseTrigger(text, from.where)),
  };
}

/** Looks up an image base and takes its ONBUILD triggers. */
async function resolveBase(stage: StagePlan, options: PlanOptions): Promise<void> {
  if (stage.base.kind !== 'image') return;
  const { from } = stage;
  const state = await resolveImage(stage.base.ref, options.session, options.store, options.images).catch((err: unknown) => {
    if (err instanceof LearnerError && err.where === undefined) throw new LearnerError(err.key, { ...err.facts, line: from.where.line }, from.where);
    throw err;
  });
  // Not here: pulled from its registry (`docker build` pulls a FROM image it lacks too).
  const pulled = state ?? (await pullBase(stage.base.ref, options, from));
  if (pulled === null) throw await baseImageMissing(stage.base.ref, options.session, from);
  stage.base.state = pulled;
  stage.triggers = (pulled.config.config?.OnBuild ?? []).map((text) => parseTrigger(text, from.where));
}

/** FROM an image that is not local: pull it; null when no registry has it. */
async function pullBase(ref: string, options: PlanOptions, from: Instruction): Promise<(ImageState & { imageId: Digest }) | null> {
  const { session, store } = options;
  // Loaded by a FROM that pulls: the registry client (and its tar and HTTP modules) is no part of a local build.
  const { Registries } = await import('../registry/index.js');
  const registries = new Registries({
    dataDir: session.dataDir,
    store,
    images: session,
    ...(options.quota ? { quota: options.quota } : {}),
    ...(options.events ? { events: options.events } : {}),
  });
  try {
    await registries.pull(ref);
  } catch (err) {
    // Offline (no registry reachable) or not in the registry: build.baseImageMissing, which
    // lists the images available here.
    const missing = ['registry.offline', 'registry.notFound', 'reference.invalid', 'image.baseNameReserved'];
    if (err instanceof LearnerError && missing.includes(err.key)) return null;
    if (err instanceof LearnerError) throw new LearnerError(err.key, { ...err.facts, line: from.where.line }, from.argsWhere);
    throw err;
  }
  return resolveImage(ref, session, store, options.images);
}

async function baseImageMissing(image: string, session: SessionImages, from: Instruction): Promise<LearnerError> {
  const available = availableBaseImages().flatMap((b) => [...b.tags]);
  const own = (await session.list().catch(() => [])).filter((row) => !available.includes(`${row.repository}:${row.tag}`));
  return learnerError('build.baseImageMissing', from.argsWhere, {
    image,
    available: [...available, ...own.map((row) => `${row.repository}:${row.tag}`)],
  });
}

function findTarget(stages: StagePlan[], target: string | undefined): number {
  if (target === undefined || target === '') return stages.length - 1;
  const found = stages.find((stage) => stage.name === target.toLowerCase());
  if (found === undefined) {
    throw new LearnerError('build.targetNotFound', { target, stages: stages.flatMap((s) => (s.name ? [s.name] : [])) });
  }
  return found.index;
}

/** The stage a `--from` value names, if it names one before `before` (by name or index). */
export function stageNamed(stages: readonly StagePlan[], name: string, before: number): StagePlan | null {
  const byIndex = /^\d+$/.test(name) ? stages[Number(name)] : undefined;
  const stage = byIndex ?? stages.find((s) => s.name !== null && s.name === name.toLowerCase());
  return stage !== undefined && stage.index < before ? stage : null;
}

/** The stage (or image) names an instruction reads from: COPY --from, RUN --mount=...,from=. */
function stageReferences(instruction: Instruction): string[] {
  if (instruction.keyword === 'COPY') {
    const from = instruction.flags.find((flag) => flag.name === 'from');
    return from?.value ? [from.value] : [];
  }
  if (instruction.keyword !== 'RUN') return [];
  return instruction.flags
    .filter((flag) => flag.name === 'mount')
    .map((flag) => /(?:^|,)from=([^,]*)/.exec(flag.value ?? '')?.[1] ?? '')
    .filter((name) => name !== '');
}

/**
 * The target and every stage it uses through FROM, COPY --from or RUN --mount's from=, transitively. Stages that
 * nothing uses are skipped, as BuildKit (and buildah) skip them.
 */
function neededStages(stages: StagePlan[], target: number, globals: ArgScope, escape: string): number[] {
  const needed = new Set<number>();
  const visit = (index: number): void => {
    if (needed.has(index)) return;
    needed.add(index);
    const stage = stages[index]!;
    if (stage.base.kind === 'stage') visit(stage.base.stage);
    for (const instruction of [...stage.triggers, ...stage.instructions]) {
      for (let name of stageReferences(instruction)) {
        if (name.includes('$')) {
          try {
            name = new StepVars({}, globals, escape, instruction.where).expand(name);
          } catch {
            // Stage ARGs decide it at run time; without knowing, keep every earlier stage.
            for (let j = 0; j < index; j++) visit(j);
            continue;
          }
        }
        const source = stageNamed(stages, name, index);
        if (source !== null) visit(source.index);
      }
    }
  };
  visit(target);
  return [...needed].sort((a, b) => a - b);
}
