// What every instruction handler works with: its instruction, the image it starts from, the
// stage's bookkeeping, the build's shared parts; and what it returns: the step's history text,
// cache key, run config and, for steps that make one, a function that writes the layer.
import type { EgressSession } from '../egress/index.js';
import type { Logger } from 'pino';
import { LearnerError } from '../../../protocol/errors.js';
import type { Digest, ImageStore, RunConfig } from '../image-store/index.js';
import type { ContainerRuntime } from '../runtime/container-runtime.js';
import type { IdRangeAllocator } from '../runtime/id-ranges.js';
import type { ArgScope, BuildArgs } from './args.js';
import type { CacheKey } from './cache.js';
import type { BuildContext } from './context.js';
import { envMap, type ImageState } from './image-config.js';
import type { Instruction, Where } from './parse.js';
import type { StepResources } from './run-step.js';
import { expandHeredoc, expandWord, splitWords, SubstitutionError, type Lookup } from './substitution.js';
import type { WritableLayerLimiter } from '../disk/writable-layer.js';

export interface StageRuntime {
  /** The stage's name, or its index when it has none (as Docker numbers stages). */
  name: string;
  index: number;
  args: ArgScope;
  /** CMD was set in this stage (ENTRYPOINT then keeps it; otherwise it clears an inherited CMD). */
  cmdSet: boolean;
}

/** An image COPY --from can read: a finished stage or an image, with its id for the cache key. */
export interface CopySource {
  state: ImageState;
  /** What identifies its content: the image id (a stage's result is an image too). */
  id: Digest | 'scratch';
}

/** `--secret` values as the builder takes them: id → bytes. */
export type BuildSecrets = ReadonlyMap<string, Uint8Array>;

export interface BuildRuntime {
  store: ImageStore;
  context: BuildContext;
  escape: string;
  /** This build's --build-arg values (RUN takes the proxy ones from here). */
  buildArgs: BuildArgs;
  /** `COPY --from=<name>`: a stage built earlier in this build, or an image the session sees. */
  copySource(name: string, where: Where): Promise<CopySource>;
  runtime: ContainerRuntime;
  idRanges: IdRangeAllocator;
  idPrefix: string;
  resources: StepResources;
  /** Most bytes a step may write: a RUN's layer (kernel-enforced where the store has quotas), ADD's unpacking. */
  writableLayerBytes: number;
  writableLayer: WritableLayerLimiter;
  tailLines: number;
  /** RUN --mount=type=cache: the session's cache dirs, the bound on all of them, and the quota check of a step that grew them. */
  cacheMounts: { root: string; maxBytes: number; admitGrowth(bytes: number): Promise<void> };
  /** `--secret` values for RUN --mount=type=secret (none from the web playground). */
  secrets: BuildSecrets;
  /**
   * RUN's way out to package archives, when the engine has one: asked for by the first RUN that
   * runs (null: none could be set up), so a build whose steps all come from the cache starts none.
   */
  egress?: () => Promise<EgressSession | null>;
  signal?: AbortSignal;
  log: Logger;
}

export interface StepInput {
  instruction: Instruction;
  parent: ImageState;
  stage: StageRuntime;
  build: BuildRuntime;
}

export interface StepIO {
  emitLog(stream: 'stdout' | 'stderr', text: string): void;
  /** What a RUN step reached through the package-archive proxy. */
  emitEgress?(hosts: { host: string; bytes: number }[], refused: string[]): void;
  signal?: AbortSignal;
}

export interface PreparedStep {
  /** The history entry's created_by, in the classic builder's words. */
  createdBy: string;
  cache: CacheKey;
  /** The image's run config after this step. */
  runConfig: RunConfig;
  author?: string;
  /**
   * Makes the step's layer, given an empty scratch dir on the store's filesystem; returns the
   * directory to commit. Absent for steps that only change the config.
   */
  layer?: (stepDir: string, io: StepIO) => Promise<string>;
}

export type InstructionHandler = (input: StepInput) => Promise<PreparedStep>;

/** A LearnerError located at `where`, with the line in its facts as the messages expect. */
/** A build stopped by its signal (here, not in run-step.ts: a build that runs no RUN never loads that). */
export class CancelledError extends LearnerError {
  constructor() {
    super('build.cancelled', {});
  }
}

export function learnerError(key: ConstructorParameters<typeof LearnerError>[0], where: Where, facts: LearnerError['facts'] = {}): LearnerError {
  return new LearnerError(key, { line: where.line, ...facts }, where);
}

/** Re-locates a LearnerError raised without a position (e.g. resolving a user). */
export function atLine(err: unknown, where: Where): unknown {
  if (err instanceof LearnerError && err.where === undefined) {
    return new LearnerError(err.key, { line: where.line, ...err.facts }, where);
  }
  return err;
}

/**
 * The variables an instruction sees: the image's ENV, then the stage's ARGs (ENV wins, as in
 * Docker). Records the build arguments a substitution used, for the cache key.
 */
export class StepVars {
  private readonly env: Map<string, string>;
  readonly usedArgs: Record<string, string> = {};

  constructor(
    config: RunConfig,
    private readonly args: ArgScope,
    private readonly escape: string,
    private readonly where: Where,
  ) {
    this.env = envMap(config);
  }

  readonly lookup: Lookup = (name) => {
    const fromEnv = this.env.get(name);
    if (fromEnv !== undefined) return fromEnv;
    const value = this.args.get(name);
    if (value !== undefined) this.usedArgs[name] = value;
    return value;
  };

  expand(word: string): string {
    try {
      return expandWord(word, this.lookup, this.escape);
    } catch (err) {
      if (err instanceof SubstitutionError) {
        throw learnerError('build.badSubstitution', this.where, { text: word, detail: err.message });
      }
      throw err;
    }
  }

  /** A here-document body: quotes kept (substitution.ts expandHeredoc). */
  expandHeredoc(text: string): string {
    try {
      return expandHeredoc(text, this.lookup, this.escape);
    } catch (err) {
      if (err instanceof SubstitutionError) throw learnerError('build.badSubstitution', this.where, { text: text.split('\n')[0] ?? '', detail: err.message });
      throw err;
    }
  }

  /** Declared ARGs with a value that no ENV shadows: what RUN gets in its environment. */
  runArgs(): [string, string][] {
    return this.args.entries().filter(([name]) => !this.env.has(name));
  }

  /** The stage's own ARGs that no ENV shadows, a missing value as '': RUN's `|N K=V` in history. */
  historyArgs(): [string, string][] {
    return this.args.declared().filter(([name]) => !this.env.has(name));
  }
}

/**
 * `name=value …` pairs of ENV, LABEL and ARG. ENV and LABEL also accept Docker's legacy form
 * `ENV NAME the rest of the line`; ARG accepts bare names. Values are substituted and unquoted.
 */
export function parsePairs(
  instruction: Instruction,
  vars: StepVars,
  escape: string,
  mode: 'legacy' | 'bare-names',
): { name: string; value: string | undefined }[] {
  const words = splitWords(instruction.args, escape);
  if (words.length === 0) {
    throw learnerError('build.missingArguments', instruction.where, { instruction: instruction.keyword });
  }
  if (mode === 'legacy' && !words[0]!.includes('=')) {
    const match = /^(\S+)\s+([\s\S]*)$/.exec(instruction.args);
    if (match === null) {
      throw learnerError('build.pairSyntax', instruction.argsWhere, { instruction: instruction.keyword, word: words[0]! });
    }
    return [{ name: vars.expand(match[1]!), value: vars.expand(match[2]!) }];
  }
  return words.map((word) => {
    const eq = word.indexOf('=');
    if (eq === -1) {
      if (mode === 'bare-names') return { name: vars.expand(word), value: undefined };
      throw learnerError('build.pairSyntax', instruction.argsWhere, { instruction: instruction.keyword, word });
    }
    const name = vars.expand(word.slice(0, eq));
    if (name === '') throw learnerError('build.pairSyntax', instruction.argsWhere, { instruction: instruction.keyword, word });
    return { name, value: vars.expand(word.slice(eq + 1)) };
  });
}

/** JSON-form arguments, or a learner error naming the instruction and an example. */
export function requireJson(instruction: Instruction, example: string): string[] {
  if (instruction.json === null) {
    throw learnerError('build.jsonRequired', instruction.argsWhere, { instruction: instruction.keyword, example });
  }
  return instruction.json;
}

export function requireArgs(instruction: Instruction): void {
  if (instruction.args.trim() === '') {
    throw learnerError('build.missingArguments', instruction.where, { instruction: instruction.keyword });
  }
}
