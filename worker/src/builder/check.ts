// What Docker checks of the whole Dockerfile before any step runs: every instruction's flags
// and arguments, and the BuildKit features this builder does not have (refused with their
// line, never quietly done some other way). A mistake on line 30 stops the build before
// line 2's RUN spends a minute.
import { checkFlags, type Instruction, type Keyword } from './parse.js';
import { learnerError, requireArgs } from './step.js';

/** The flags each instruction accepts here. */
export const FLAGS: Readonly<Partial<Record<Keyword, readonly string[]>>> = {
  ADD: ['chown', 'chmod'],
  COPY: ['from', 'chown', 'chmod'],
  FROM: ['platform'],
  HEALTHCHECK: ['interval', 'timeout', 'start-period', 'start-interval', 'retries'],
  RUN: ['network'],
};

/** BuildKit flags a learner meets in today's docs that this builder does not implement. */
const UNSUPPORTED: Readonly<Partial<Record<Keyword, readonly string[]>>> = {
  ADD: ['link', 'checksum', 'keep-git-dir', 'exclude', 'unpack'],
  COPY: ['link', 'parents', 'exclude'],
  RUN: ['mount', 'security'],
};

export function checkInstruction(instruction: Instruction): void {
  for (const flag of instruction.flags) {
    if (!UNSUPPORTED[instruction.keyword]?.includes(flag.name)) continue;
    // `--mount=type=cache,target=/x` is named by its type, what the docs' examples differ in.
    const type = flag.name === 'mount' ? /(?:^|,)type=([^,]*)/.exec(flag.value ?? '')?.[1] ?? 'bind' : null;
    const feature = type !== null ? `--mount=type=${type}` : `--${flag.name}`;
    throw learnerError('build.featureUnsupported', flag.where, { instruction: instruction.keyword, feature });
  }
  checkFlags(instruction, FLAGS[instruction.keyword] ?? []);
  if (instruction.keyword === 'RUN') {
    const network = instruction.flags.find((flag) => flag.name === 'network');
    if (network !== undefined && network.value !== 'none' && network.value !== 'default') {
      throw learnerError('build.invalidFlagValue', network.where, { flag: 'network', value: network.value ?? '' });
    }
  }
  requireArgs(instruction);
}

export function checkDockerfile(instructions: readonly Instruction[]): void {
  for (const instruction of instructions) checkInstruction(instruction);
}
