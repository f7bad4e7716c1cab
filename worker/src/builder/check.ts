// What Docker checks of the whole Dockerfile before any step runs: every instruction's flags
// and arguments (RUN --mount's types and option names too), and the BuildKit features this
// builder does not have (refused with their line, never quietly done some other way). A
// mistake on line 30 stops the build before line 2's RUN spends a minute.
import { checkFlags, type Instruction, type Keyword } from './parse.js';
import { checkMount } from './run-mounts.js';
import { learnerError, requireArgs } from './step.js';

/** The flags each instruction accepts here. */
export const FLAGS: Readonly<Partial<Record<Keyword, readonly string[]>>> = {
  ADD: ['chown', 'chmod', 'link'],
  COPY: ['from', 'chown', 'chmod', 'link'],
  FROM: ['platform'],
  HEALTHCHECK: ['interval', 'timeout', 'start-period', 'start-interval', 'retries'],
  RUN: ['network', 'mount'],
};

/** BuildKit flags a learner meets in today's docs that this builder does not implement. */
const UNSUPPORTED: Readonly<Partial<Record<Keyword, readonly string[]>>> = {
  ADD: ['checksum', 'keep-git-dir', 'exclude', 'unpack'],
  COPY: ['parents', 'exclude'],
  RUN: ['security'],
};

export function checkInstruction(instruction: Instruction): void {
  for (const flag of instruction.flags) {
    if (!UNSUPPORTED[instruction.keyword]?.includes(flag.name)) continue;
    throw learnerError('build.featureUnsupported', flag.where, { instruction: instruction.keyword, feature: `--${flag.name}` });
  }
  checkFlags(instruction, FLAGS[instruction.keyword] ?? []);
  for (const flag of instruction.flags) {
    if (flag.name === 'mount') checkMount(flag, instruction);
    if (flag.name === 'link' && !['true', 'false', null].includes(flag.value)) {
      throw learnerError('build.invalidFlagValue', flag.where, { flag: 'link', value: flag.value ?? '' });
    }
  }
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
